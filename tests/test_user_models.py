"""flip_search on the researcher's own model: every kind on the same weights as an onepixel.CNN has
the fast path's decisions on every candidate; grey and colour corners, targets, streaming, progress."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from onepixel import CNN, Architecture, NumpyModel, OnnxModel, flip_search

from .onnx_graphs import cnn_graph


@pytest.fixture(scope="module")
def line_net(trained_d16):
    """The trained D = 16 line net and 40 of its images (a few hundred adversarial flips)."""
    ds, chosen, arch, result = trained_d16
    pick = chosen[:: max(1, len(chosen) // 40)][:40]
    images, labels = ds["images"].values[pick], ds["label"].values[pick]
    fast = flip_search(CNN(arch), result.params, images, labels, progress=False)
    assert fast.attrs["search_method_used"] == "fast" and fast.attrs["n_adversarial"] > 0
    return arch, result.params, images, labels, fast


def assert_same_decisions(cube, reference, decision="misclassified"):
    """The same decision on every candidate, margins within float tolerance."""
    np.testing.assert_array_equal(cube[decision].values, reference[decision].values)
    np.testing.assert_array_equal(cube["adversarial"].values, reference["adversarial"].values)
    np.testing.assert_allclose(cube["margin"].values, reference["margin"].values, atol=2e-4)
    assert cube.attrs["n_adversarial"] == reference.attrs["n_adversarial"]


def cnn_predict(arch, params):
    model = CNN(arch)
    return lambda x: np.asarray(model.apply({"params": params}, x))


def test_a_cnn_with_its_whole_variables_dict_takes_the_fast_path(line_net):
    arch, params, images, labels, fast = line_net
    cube = flip_search(CNN(arch), {"params": params}, images, labels, progress=False)
    assert cube.attrs["search_method_used"] == "fast"
    np.testing.assert_array_equal(cube["margin"].values, fast["margin"].values)


def test_a_jax_callable_by_the_plain_path(line_net):
    arch, params, images, labels, fast = line_net
    model = CNN(arch)
    cube = flip_search(lambda p, x: model.apply({"params": p}, x), params, images, labels, progress=False)
    assert cube.attrs["search_method_used"] == "plain"
    assert_same_decisions(cube, fast)


def test_a_batched_numpy_callable(line_net):
    arch, params, images, labels, fast = line_net
    predict = cnn_predict(arch, params)
    seen = []

    def nchw_predict(x):  # a PyTorch-style model: (batch, 1, H, W)
        seen.append(x.shape)
        return predict(x[:, 0])

    cube = flip_search(NumpyModel(nchw_predict, batch_size=500, layout="NCHW"), None, images, labels)
    assert {shape[1:] for shape in seen} == {(1, 16, 16)} and max(shape[0] for shape in seen) <= 500
    assert_same_decisions(cube, fast)


def test_an_art_classifier_with_its_channel_order_and_clip_values(line_net):
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    arch, params, images, labels, fast = line_net
    predict = cnn_predict(arch, params)
    classifier = BlackBoxClassifierNeuralNetwork(
        lambda x: predict(x[:, 0]), (1, 16, 16), 2, channels_first=True, clip_values=(0, 1)
    )
    cube = flip_search(classifier, None, images, labels, progress=False)
    assert_same_decisions(cube, fast)
    assert "corner" not in cube.dims  # clip values (0, 1) on 0/1 images: flips


def test_an_onnx_model_as_pytorch_exports_it(line_net, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    arch, params, images, labels, fast = line_net
    path = tmp_path / "net.onnx"
    onnx.save(cnn_graph(arch, params), path)
    for model in (path, str(path), onnx.load(path), OnnxModel(path, batch_size=300)):
        cube = flip_search(model, None, images, labels, progress=False)
        assert cube.attrs["search_method_used"] == "plain"
        assert_same_decisions(cube, fast)


def test_cnn_from_onnx_gets_the_fast_path_with_the_same_weights(line_net):
    arch, params, images, labels, fast = line_net
    model, loaded = CNN.from_onnx(cnn_graph(arch, params))
    assert model.arch == arch
    for layer in params:
        for name in params[layer]:
            np.testing.assert_array_equal(np.asarray(loaded[layer][name]), np.asarray(params[layer][name]))
    cube = flip_search(model, loaded, images, labels, progress=False)
    assert cube.attrs["search_method_used"] == "fast"
    np.testing.assert_array_equal(cube["margin"].values, fast["margin"].values)


def test_cnn_from_onnx_names_the_first_node_outside_the_family():
    import onnx
    from onnx import helper

    arch = Architecture(10, conv_channels=(4, 4), dense_units=8)
    params = CNN(arch).init(jax.random.key(0), jnp.zeros((1, 10, 10)))["params"]
    graph = cnn_graph(arch, params)
    nodes = list(graph.graph.node)
    nodes[1] = helper.make_node("Sigmoid", ["c0"], ["r0"], name="squash")
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    with pytest.raises(ValueError, match=r"node 1 \(Sigmoid 'squash'\) does not fit .* expected Relu"):
        CNN.from_onnx(graph)
    padded = cnn_graph(arch, params)
    padded.graph.node[0].attribute.append(helper.make_attribute("pads", [1, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"node 0 \(Conv 'conv0'\) .* padding 0"):
        CNN.from_onnx(padded)
    assert isinstance(graph, onnx.ModelProto)


# Grey and colour images: random nets whose decisions sit near the boundary.


def boundary_net(arch, images, key=0):
    """Random params with the last bias moved so the images' margins straddle 0."""
    params = CNN(arch).init(jax.random.key(key), jnp.zeros((1, *images.shape[1:])))["params"]
    params = jax.tree.map(np.asarray, params)
    logits = cnn_predict(arch, params)(images)
    params["Dense_1"]["bias"] = params["Dense_1"]["bias"].copy()
    params["Dense_1"]["bias"][0] += float(np.median(logits[:, 1] - logits[:, 0]))
    return params


def by_hand_corners(predict, images, values, labels):
    """Reference: each pixel of each image set to each corner, one image at a time (NaN: no change)."""
    pixels = images if images.ndim == 4 else images[..., None]
    n, h, w, _ = pixels.shape
    margins = np.full((n, len(values), h, w), np.nan, np.float32)
    wrong = np.zeros((n, len(values), h, w), bool)
    for i in range(n):
        for k, corner in enumerate(values):
            # Every pixel of image i set to this corner, each a whole image, classified in one batch.
            changed = np.repeat(pixels[i][None], h * w, axis=0)
            rows, cols = np.divmod(np.arange(h * w), w)
            changed[np.arange(h * w), rows, cols] = corner
            logits = predict(changed if images.ndim == 4 else changed[..., 0])
            for index, (r, c) in enumerate(zip(rows, cols, strict=True)):
                if (pixels[i, r, c] == corner).all():
                    continue
                wrong[i, k, r, c] = np.argmax(logits[index]) != labels[i]
                margins[i, k, r, c] = logits[index, labels[i]] - np.delete(logits[index], labels[i]).max()
    return margins, wrong


@pytest.mark.parametrize("channels", [0, 3], ids=["grey", "colour"])
def test_grey_and_colour_corners_fast_equals_plain_equals_by_hand(channels):
    rng = np.random.default_rng(channels)
    arch = Architecture(10, conv_channels=(4, 4), dense_units=16)
    shape = (6, 10, 10, channels) if channels else (6, 10, 10)
    images = rng.uniform(0, 255, shape).astype(np.float32)
    images[:, :2] = 0  # some pixels already at a corner: no change there
    params = boundary_net(arch, images)
    fast = flip_search(CNN(arch), params, images, bounds=(0, 255), progress=False)
    plain = flip_search(CNN(arch), params, images, bounds=(0, 255), method="plain", progress=False)
    n_corners = 2 ** max(channels, 1)
    assert fast.attrs["search_method_used"] == "fast"
    assert fast["margin"].dims == ("image", "corner", "row", "col") and fast.sizes["corner"] == n_corners
    assert_same_decisions(fast, plain)
    corners = fast["corner_value"].values
    margins, wrong = by_hand_corners(cnn_predict(arch, params), images, corners, fast["label"].values)
    np.testing.assert_array_equal(fast["misclassified"].values, wrong)
    np.testing.assert_allclose(fast["margin"].values, margins, atol=2e-4)
    assert fast.attrs["n_candidates"] == int(np.isfinite(margins).sum()) == int(fast["candidate"].sum())
    assert fast.attrs["n_adversarial"] > 0


def test_a_grey_change_onto_another_image_of_the_set_is_not_adversarial():
    rng = np.random.default_rng(5)
    images = rng.uniform(0.2, 0.8, (3, 6, 6)).astype(np.float32)
    images[1] = images[0]
    images[1, 2, 3] = 1.0  # image 0 with pixel (2, 3) set to the hi corner

    def predict(x):
        return np.stack([x.sum((1, 2)), np.full(len(x), 10.8, np.float32)], axis=1)

    cube = flip_search(NumpyModel(predict), None, images, np.array([1, 1, 1]), bounds=(0, 1))
    hi = int(np.flatnonzero(cube["corner_value"].values[:, 0] == 1.0)[0])
    assert cube["lands_on"].values[0, hi, 2, 3] == 1 and cube["on_manifold"].values[0, hi, 2, 3]
    assert not cube["adversarial"].values[0, hi, 2, 3]
    assert (cube["lands_on"].values >= 0).sum() == 1  # image 1 back to 0 needs 0.2..0.8, not a corner


def test_binary_images_of_other_bounds_and_non_square_images():
    rng = np.random.default_rng(7)
    images = rng.integers(0, 2, (4, 5, 7)).astype(np.float32) * 255
    weights = rng.normal(size=(35, 3)).astype(np.float32)

    def apply(w, x):
        return (x / 255).reshape(len(x), -1) @ w

    cube = flip_search(apply, weights, images, bounds=(0, 255), progress=False)
    assert cube["margin"].dims == ("image", "row", "col") and cube["margin"].shape == (4, 5, 7)
    flipped = images[0].copy()
    flipped[2, 6] = 255 - flipped[2, 6]
    logits = apply(weights, flipped[None])[0]
    label = cube["label"].values[0]
    assert np.isclose(
        cube["margin"].values[0, 2, 6], logits[label] - np.delete(logits, label).max(), atol=1e-5
    )


def test_targeted_search_fast_equals_plain_and_hits_are_the_target():
    rng = np.random.default_rng(3)
    arch = Architecture(10, conv_channels=(4, 4), dense_units=16, n_classes=3)
    images = rng.uniform(0, 1, (8, 10, 10)).astype(np.float32)
    params = boundary_net(arch, images, key=2)
    predict = cnn_predict(arch, params)
    labels = np.argmax(predict(images), axis=1)
    targets = (labels + 1) % 3
    fast = flip_search(CNN(arch), params, images, targets=targets, bounds=(0, 1), progress=False)
    plain = flip_search(NumpyModel(predict), None, images, targets=targets, bounds=(0, 1))
    assert fast.attrs["targeted"] == 1 and "reaches_target" in fast and "misclassified" not in fast
    assert_same_decisions(fast, plain, "reaches_target")
    _, wrong = by_hand_corners(predict, images, fast["corner_value"].values, targets)
    np.testing.assert_array_equal(fast["reaches_target"].values, ~wrong & fast["candidate"].values)
    np.testing.assert_array_equal(fast["target"].values, targets)
    assert fast.attrs["n_adversarial"] > 0


def test_targeted_two_class_is_the_untargeted_search(line_net):
    arch, params, images, labels, fast = line_net
    cube = flip_search(CNN(arch), params, images, labels, targets=1 - labels, progress=False)
    np.testing.assert_array_equal(cube["adversarial"].values, fast["adversarial"].values)
    np.testing.assert_allclose(cube["margin"].values, -fast["margin"].values, atol=1e-6)


def test_streaming_to_netcdf_gives_the_cube_in_memory(line_net, tmp_path):
    arch, params, images, labels, fast = line_net
    out = tmp_path / "cube.nc"
    done = []
    cube = flip_search(
        CNN(arch), params, images, labels, out=out, chunk_images=7, progress=lambda d, t: done.append((d, t))
    )
    assert done[-1] == (len(images) * 256, len(images) * 256)
    with xr.open_dataset(out) as stored:
        # Chunks of 7 images batch the base pass differently: margins agree to float rounding.
        assert_same_decisions(stored, fast)
        for name in ("lands_on", "on_manifold", "label"):
            np.testing.assert_array_equal(stored[name].values, fast[name].values, err_msg=name)
        assert (
            stored["adversarial"].dtype == bool
            and stored.attrs["n_adversarial"] == fast.attrs["n_adversarial"]
        )
        assert stored.attrs["Conventions"] == "CF-1.10" and stored["margin"].attrs["long_name"]
    assert cube.attrs["n_candidates"] == fast.attrs["n_candidates"]
    cube.close()
    assert [p.name for p in tmp_path.iterdir()] == ["cube.nc"]  # no temporary left


def test_a_failed_stream_leaves_no_file(tmp_path):
    calls = []

    def predict(x):
        calls.append(len(x))
        if len(calls) > 3:
            raise RuntimeError("the model broke")
        return np.stack([x.sum((1, 2)), np.full(len(x), 8.0)], axis=1)

    images = np.random.default_rng(0).integers(0, 2, (6, 4, 4)).astype(np.uint8)
    with pytest.raises(RuntimeError, match="the model broke"):
        flip_search(NumpyModel(predict, batch_size=16), None, images, out=tmp_path / "c.nc", chunk_images=2)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_on_request_and_silent_when_off(capsys):
    images = np.random.default_rng(0).integers(0, 2, (3, 4, 4)).astype(np.uint8)
    model = NumpyModel(lambda x: np.stack([x.sum((1, 2)), np.full(len(x), 8.0)], axis=1))
    flip_search(model, None, images, progress=False)
    assert capsys.readouterr().err == ""
    flip_search(model, None, images, progress=True)
    err = capsys.readouterr().err
    assert "100%|" in err and "48.0/48.0" in err


def test_non_finite_logits_stop_the_search():
    arch = Architecture(8, conv_channels=(2,), dense_units=4)
    params = jax.tree.map(np.asarray, CNN(arch).init(jax.random.key(0), jnp.zeros((1, 8, 8)))["params"])
    params["Dense_0"]["kernel"] = params["Dense_0"]["kernel"].copy()
    params["Dense_0"]["kernel"][0, 0] = np.nan
    images = np.random.default_rng(0).integers(0, 2, (5, 8, 8)).astype(np.uint8)
    with pytest.raises(ValueError, match=r"model: 5 of 5 unchanged images gave non-finite logits"):
        flip_search(CNN(arch), params, images)

    def nan_on_pixel_0(x):  # finite for the images, NaN when pixel (0, 0) is 1
        logits = np.stack([x.sum((1, 2)), np.full(len(x), 3.5)], axis=1)
        logits[x[:, 0, 0] == 1] = np.nan
        return logits

    images[:, 0, 0] = 0
    with pytest.raises(ValueError, match=r"model: 5 of 320 changed images \(images 0..4\) gave non-finite"):
        flip_search(NumpyModel(nan_on_pixel_0), None, images)


BAD_CALLS = [
    (dict(images=[[[0, 1], [1, 0]]]), None),  # a list is accepted
    (dict(images=np.zeros((2, 1, 5, 5))), r"looks channels-first \(N, C, H, W\); pass images\[:, 0\]"),
    (dict(images=np.zeros((2, 3, 5, 5))), r"pass images.transpose\(0, 2, 3, 1\)"),
    (dict(images=np.zeros((2, 4, 4, 3))), r"images: 3 channels need value bounds; pass bounds"),
    (dict(images=np.full((2, 4, 4), 0.5), bounds=(0, 0.4)), r"lie outside bounds \(0, 0.4\)"),
    (dict(bounds=(1, 0)), r"bounds=\(1, 0\); use finite lo < hi"),
    (dict(bounds="0-1"), r"bounds='0-1'; use two numbers"),
    (
        dict(targets=np.array([0, 0]), labels=np.array([0, 1])),
        r"targets: 1 images have their label as target",
    ),
    (dict(targets=np.array([0, 5])), r"targets: class 5 but the model has 2 outputs"),
    (dict(lands_on=np.zeros((2, 4, 5), int)), r"lands_on: expected integer indices of shape \(2, 4, 4\)"),
    (dict(lands_on=np.full((2, 4, 4), -2)), r"lands_on: indices must be >= -1"),
    (dict(image_coords={"angle": [1.0]}), r"image_coords\['angle'\]: expected 2 values"),
    (dict(chunk_images=0), r"chunk_images=0; use a whole number >= 1"),
    (dict(out="cube.zarr"), r"out='cube.zarr'; use a path ending in .nc"),
    (dict(out="/no/such/folder/cube.nc"), r"folder /no/such/folder does not exist"),
    (dict(progress="yes"), r"progress='yes'; use None"),
    (dict(model=NumpyModel(lambda x: x), params={"w": 1}), r"params: a numpy model holds its own weights"),
    (dict(model=object()), r"model: object is not a model flip_search takes"),
    (dict(model="net.onnx"), r"ONNX file 'net.onnx' does not exist"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CALLS)
def test_every_new_argument_is_checked_before_any_work(kwargs, message):
    arch = Architecture(4, conv_channels=(2,), kernel=3, pool=1, dense_units=4)
    params = CNN(arch).init(jax.random.key(0), jnp.zeros((1, 4, 4)))["params"]
    call = dict(model=CNN(arch), params=params, images=np.zeros((2, 4, 4), np.uint8), labels=None)
    call.update(kwargs)
    args = (call.pop("model"), call.pop("params"), call.pop("images"), call.pop("labels"))
    if message is None:
        model = NumpyModel(lambda x: np.stack([x.sum((1, 2)), np.ones(len(x))], axis=1))
        assert flip_search(model, None, args[2], progress=False).attrs["n_candidates"] == 4
        return
    with pytest.raises(ValueError, match=message):
        flip_search(*args, **call)


def test_grey_streaming_in_chunks_finds_the_same_landings(tmp_path):
    rng = np.random.default_rng(9)
    images = rng.uniform(0.2, 0.8, (9, 6, 6)).astype(np.float32)
    images[7] = images[2]
    images[7, 4, 1] = 0.0  # image 2 with pixel (4, 1) set to lo: found across chunks
    images[1] = images[8]
    images[1, 0, 5] = 1.0  # image 8 with pixel (0, 5) set to hi: the target comes later

    def predict(x):
        return np.stack([x.sum((1, 2)), np.full(len(x), 18.0, np.float32)], axis=1)

    model = NumpyModel(predict)
    whole = flip_search(model, None, images, bounds=(0, 1), progress=False)
    streamed = flip_search(model, None, images, bounds=(0, 1), out=tmp_path / "g.nc", chunk_images=2)
    lo, hi = (int(np.flatnonzero(whole["corner_value"].values[:, 0] == v)[0]) for v in (0.0, 1.0))
    assert whole["lands_on"].values[2, lo, 4, 1] == 7 and whole["lands_on"].values[8, hi, 0, 5] == 1
    assert (whole["lands_on"].values >= 0).sum() == 2
    for name in ("lands_on", "margin", "adversarial", "candidate"):
        np.testing.assert_array_equal(streamed[name].values, whole[name].values, err_msg=name)
    assert streamed.attrs["n_on_manifold"] == 2 == whole.attrs["n_on_manifold"]
    streamed.close()


def test_a_target_equal_to_the_models_own_prediction_is_refused_before_the_search():
    calls = []

    def predict(x):
        calls.append(len(x))
        return np.stack([x.sum((1, 2)), np.full(len(x), 8.0)], axis=1)

    images = np.zeros((3, 4, 4), np.uint8)  # predicted class 1 (8 > 0)
    with pytest.raises(ValueError, match=r"targets: 1 images have their label as target \(first: image 2\)"):
        flip_search(NumpyModel(predict), None, images, targets=np.array([0, 0, 1]))
    assert sum(calls) <= 1 + 3  # one probe for the number of classes, one base pass: no candidates


@pytest.mark.parametrize(
    ("arch", "channels"),
    [
        (Architecture(12, conv_channels=(6,), kernel=5, pool=2, dense_units=8, n_classes=10), 1),
        (Architecture(30, conv_channels=(4, 6, 8), dense_units=16, n_classes=3), 1),
        (Architecture(10, conv_channels=(5, 7), dense_units=12), 3),
    ],
    ids=["one block, kernel 5, 10 classes", "three blocks, 3 classes", "colour input"],
)
def test_cnn_from_onnx_reads_the_family_and_its_kin(arch, channels):
    shape = (1, arch.size, arch.size, channels) if channels > 1 else (1, arch.size, arch.size)
    params = CNN(arch).init(jax.random.key(4), jnp.zeros(shape))["params"]
    model, loaded = CNN.from_onnx(cnn_graph(arch, params, channels=channels))
    assert model.arch == arch
    images = np.random.default_rng(1).uniform(0, 1, (5, *shape[1:])).astype(np.float32)
    np.testing.assert_allclose(
        cnn_predict(model.arch, loaded)(images), cnn_predict(arch, params)(images), rtol=1e-5, atol=1e-5
    )
