"""An ONNX graph of the CNN family read into an ``onepixel.CNN`` and its params (``CNN.from_onnx``).

The family: conv blocks (Conv with bias, VALID, stride 1 -> Relu -> MaxPool
with window = stride, floor), Flatten (or Reshape), Gemm -> Relu -> Gemm, as
``torch.onnx.export`` writes ``nn.Sequential(Conv2d, ReLU, MaxPool2d, ...,
Flatten, Linear, ReLU, Linear)`` in eval mode (Dropout and Identity nodes are
skipped). PyTorch flattens (C, H, W); the Flax Dense reads (H, W, C), so the
first Gemm's rows are permuted. A graph outside the family is one
``ValueError`` naming the first node that does not fit.
"""

from __future__ import annotations

import os

import numpy as np

from onepixel.models.architecture import Architecture

SKIPPED = {"Dropout", "Identity"}
FAMILY = "Conv-Relu-MaxPool blocks, Flatten, Gemm-Relu-Gemm"


def _attributes(node) -> dict:
    import onnx

    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


class _Reader:
    """Walks the graph's nodes in order, checking each against the family."""

    def __init__(self, graph):
        from onnx import numpy_helper

        self.weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        self.nodes = [node for node in graph.node if node.op_type not in SKIPPED]
        for node in graph.node:
            if node.op_type == "Constant":
                self.weights[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
        self.nodes = [node for node in self.nodes if node.op_type != "Constant"]
        self.at = 0

    def refuse(self, why: str, back: int = 0):
        """Stop at the next node (or, ``back`` = 1, the one just taken)."""
        at = self.at - back
        node = self.nodes[at] if at < len(self.nodes) else None
        where = "the end of the graph" if node is None else f"node {at} ({node.op_type} {node.name!r})"
        raise ValueError(f"CNN.from_onnx: {where} does not fit the onepixel.CNN family ({FAMILY}): {why}")

    def peek(self) -> str | None:
        return self.nodes[self.at].op_type if self.at < len(self.nodes) else None

    def take(self, op_type: str):
        if self.peek() != op_type:
            self.refuse(f"expected {op_type}")
        node = self.nodes[self.at]
        self.at += 1
        return node

    def weight(self, node, index: int) -> np.ndarray:
        if index >= len(node.input) or node.input[index] not in self.weights:
            self.refuse(f"input {index} is not a stored weight", 1)
        return self.weights[node.input[index]].astype(np.float32)


def _conv_block(reader: _Reader) -> tuple[np.ndarray, np.ndarray, int]:
    """(HWIO kernel, bias, pool) of one Conv -> Relu -> MaxPool block."""
    node = reader.take("Conv")
    attributes = _attributes(node)
    kernel = reader.weight(node, 1)  # OIHW
    if (
        any(attributes.get("pads", [0]))
        or set(attributes.get("strides", [1])) != {1}
        or set(attributes.get("dilations", [1])) != {1}
        or attributes.get("group", 1) != 1
        or attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID")
        or kernel.shape[2] != kernel.shape[3]
        or len(node.input) < 3
    ):
        reader.refuse("a Conv needs padding 0, stride 1, dilation 1, group 1, a square kernel and a bias", 1)
    bias = reader.weight(node, 2)
    reader.take("Relu")
    pool_node = reader.take("MaxPool")
    pool_attributes = _attributes(pool_node)
    window = list(pool_attributes.get("kernel_shape", []))
    if (
        len(set(window)) != 1
        or list(pool_attributes.get("strides", window)) != window
        or any(pool_attributes.get("pads", [0]))
        or pool_attributes.get("ceil_mode", 0)
    ):
        reader.refuse("a MaxPool needs a square window equal to its stride, no padding, floor mode", 1)
    return kernel.transpose(2, 3, 1, 0), bias, window[0]


def _gemm(reader: _Reader) -> tuple[np.ndarray, np.ndarray]:
    """(in x out kernel, bias) of a Gemm with alpha = beta = 1."""
    node = reader.take("Gemm")
    attributes = _attributes(node)
    if (
        attributes.get("alpha", 1.0) != 1.0
        or attributes.get("beta", 1.0) != 1.0
        or attributes.get("transA", 0)
    ):
        reader.refuse("a Gemm needs alpha = beta = 1 and no transA", 1)
    weight = reader.weight(node, 1)
    kernel = weight.T if attributes.get("transB", 0) else weight
    bias = reader.weight(node, 2) if len(node.input) > 2 else np.zeros(kernel.shape[1], np.float32)
    return kernel, bias


def _input_size(graph) -> tuple[int, int]:
    """(D, channels) from the graph input (N, C, D, D)."""
    dims = [dim.dim_value for dim in graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] < 1 or dims[1] < 1:
        raise ValueError(
            f"CNN.from_onnx: input {graph.input[0].name!r} has shape {dims}; the family takes "
            "(batch, channels, D, D) images with fixed channels and D"
        )
    return dims[2], dims[1]


def cnn_from_onnx(model) -> tuple[Architecture, dict]:
    """(Architecture, Flax params) of an ONNX graph (a path or ``onnx.ModelProto``) of the CNN family."""
    import onnx

    if isinstance(model, str | os.PathLike):
        if not os.path.isfile(model):
            raise ValueError(f"CNN.from_onnx: ONNX file {os.fspath(model)!r} does not exist")
        model = onnx.load(os.fspath(model))
    graph = model.graph
    size, _ = _input_size(graph)
    reader = _Reader(graph)
    params, kernels, pools = {}, [], []
    while reader.peek() == "Conv":
        kernel, bias, pool = _conv_block(reader)
        params[f"Conv_{len(kernels)}"] = {"kernel": kernel, "bias": bias}
        kernels.append(kernel.shape[0])
        pools.append(pool)
    if not kernels:
        reader.refuse("expected Conv (the first conv block)")
    if len(set(kernels)) > 1 or len(set(pools)) > 1:
        raise ValueError(
            f"CNN.from_onnx: conv kernels {kernels} and pools {pools} differ between blocks; "
            "the family shares one kernel and one pool size"
        )
    if reader.peek() not in ("Flatten", "Reshape"):
        reader.refuse("expected Flatten (or Reshape) after the conv blocks")
    reader.at += 1
    dense_0, bias_0 = _gemm(reader)
    reader.take("Relu")
    dense_1, bias_1 = _gemm(reader)
    if reader.peek() is not None:
        reader.refuse("expected the end of the graph after the last Gemm (logits)")
    arch = Architecture(
        size=size,
        conv_channels=tuple(params[f"Conv_{i}"]["kernel"].shape[-1] for i in range(len(kernels))),
        kernel=kernels[0],
        pool=pools[0],
        dense_units=dense_0.shape[1],
        n_classes=dense_1.shape[1],
    )
    last = arch.feature_sizes()[-1]
    channels = arch.conv_channels[-1]
    if dense_0.shape[0] != last * last * channels:
        raise ValueError(
            f"CNN.from_onnx: the first Gemm takes {dense_0.shape[0]} inputs, but the conv blocks "
            f"give {last}x{last}x{channels} at D={size}"
        )
    # PyTorch's Flatten reads (C, H, W); the Flax Dense (H, W, C).
    rows = dense_0.reshape(channels, last, last, -1).transpose(1, 2, 0, 3).reshape(dense_0.shape)
    params["Dense_0"] = {"kernel": rows, "bias": bias_0}
    params["Dense_1"] = {"kernel": dense_1, "bias": bias_1}
    return arch, params
