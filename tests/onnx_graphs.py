"""ONNX graphs of an onepixel.CNN's weights, laid out as torch.onnx.export writes a PyTorch nn.Sequential.

Built with onnx.helper in the tests, so the suite needs no PyTorch: NCHW input,
Conv (OIHW) -> Relu -> MaxPool blocks, Flatten of (C, H, W), Gemm with
transB = 1 (Linear's (out, in) weight) -> Relu -> Gemm.
"""

from __future__ import annotations

import numpy as np

from onepixel.models.architecture import Architecture


def cnn_graph(arch: Architecture, params, channels: int = 1, opset: int = 17):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []

    def weight(name, array):
        weights.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    x = "input"
    for block in range(len(arch.conv_channels)):
        layer = params[f"Conv_{block}"]
        kernel = weight(f"conv{block}.weight", np.asarray(layer["kernel"]).transpose(3, 2, 0, 1))
        bias = weight(f"conv{block}.bias", layer["bias"])
        nodes += [
            helper.make_node(
                "Conv", [x, kernel, bias], [f"c{block}"], name=f"conv{block}", kernel_shape=[arch.kernel] * 2
            ),
            helper.make_node("Relu", [f"c{block}"], [f"r{block}"], name=f"relu{block}"),
            helper.make_node(
                "MaxPool",
                [f"r{block}"],
                [f"p{block}"],
                name=f"pool{block}",
                kernel_shape=[arch.pool] * 2,
                strides=[arch.pool] * 2,
            ),
        ]
        x = f"p{block}"
    last, units = arch.feature_sizes()[-1], arch.dense_units
    flax_rows = np.asarray(params["Dense_0"]["kernel"]).reshape(last, last, arch.conv_channels[-1], units)
    torch_rows = flax_rows.transpose(2, 0, 1, 3).reshape(-1, units)  # (C, H, W) order, as PyTorch flattens
    nodes += [
        helper.make_node("Flatten", [x], ["flat"], name="flatten"),
        helper.make_node(
            "Gemm",
            ["flat", weight("fc0.weight", torch_rows.T), weight("fc0.bias", params["Dense_0"]["bias"])],
            ["h"],
            name="fc0",
            transB=1,
        ),
        helper.make_node("Relu", ["h"], ["hr"], name="relu_fc"),
        helper.make_node(
            "Gemm",
            [
                "hr",
                weight("fc1.weight", np.asarray(params["Dense_1"]["kernel"]).T),
                weight("fc1.bias", params["Dense_1"]["bias"]),
            ],
            ["logits"],
            name="fc1",
            transB=1,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "onepixel_cnn",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["batch", channels, arch.size, arch.size]
            )
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", arch.n_classes])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model
