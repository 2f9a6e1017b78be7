"""The public API: onepixel.flip_search on our CNN, on any Flax module or callable, checked arguments."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import onepixel
from onepixel import CNN, Architecture, flip_search


def by_hand(apply, params, images, labels):
    """Reference: every flipped image through ``apply``, one at a time; argmax against the label."""
    n, h, w = images.shape
    wrong = np.zeros((n, h, w), bool)
    margins = np.zeros((n, h, w), np.float32)
    for i in range(n):
        for r in range(h):
            for c in range(w):
                flipped = images[i].astype(np.float32).copy()
                flipped[r, c] = 1 - flipped[r, c]
                logits = np.asarray(apply(params, flipped[None]))[0]
                wrong[i, r, c] = int(np.argmax(logits)) != labels[i]
                others = np.delete(logits, labels[i])
                margins[i, r, c] = logits[labels[i]] - others.max()
    return margins, wrong


@pytest.fixture(scope="module")
def three_class_problem():
    """A 3-class linear model on 6x6 binary images (not a CNN: the plain path)."""
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(36, 3)).astype(np.float32)
    images = rng.integers(0, 2, size=(5, 6, 6)).astype(np.uint8)

    def apply(params, x):
        return x.reshape(x.shape[0], -1) @ params

    return apply, weights, images


def test_a_callable_with_three_classes_matches_a_by_hand_search(three_class_problem):
    apply, weights, images = three_class_problem
    labels = np.array([0, 1, 2, 1, 0])
    cube = flip_search(apply, weights, images, labels)
    margins, wrong = by_hand(apply, weights, images, labels)
    np.testing.assert_array_equal(cube["misclassified"].values, wrong)
    np.testing.assert_allclose(cube["margin"].values, margins, atol=1e-5)
    assert cube.attrs["search_method_used"] == "plain" and cube.attrs["n_classes"] == 3
    assert cube.attrs["n_adversarial"] == int((wrong & ~cube["on_manifold"].values).sum()) > 0
    assert cube.attrs["n_base_errors"] == int(
        sum(np.argmax(apply(weights, images[i : i + 1].astype(np.float32))) != labels[i] for i in range(5))
    )


def test_labels_none_attacks_the_models_own_predictions(three_class_problem):
    apply, weights, images = three_class_problem
    cube = flip_search(apply, weights, images)
    predicted = np.argmax(images.reshape(5, -1).astype(np.float32) @ weights, axis=1)
    np.testing.assert_array_equal(cube["label"].values, predicted)
    assert cube.attrs["n_base_errors"] == 0
    np.testing.assert_array_equal(cube["misclassified"].values, by_hand(apply, weights, images, predicted)[1])


class TinyMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(8)(x.reshape(x.shape[0], -1)))
        return nn.Dense(4)(x)


def test_any_flax_module_by_the_plain_path():
    images = np.random.default_rng(2).integers(0, 2, size=(3, 5, 5)).astype(np.uint8)
    model = TinyMLP()
    variables = model.init(jax.random.key(0), jnp.zeros((1, 5, 5)))
    cube = flip_search(model, variables["params"], images, np.array([0, 3, 1]))
    same = flip_search(model, variables, images, np.array([0, 3, 1]))  # the whole variables dict works too
    np.testing.assert_array_equal(cube["margin"].values, same["margin"].values)
    _, wrong = by_hand(lambda p, x: model.apply(p, x), variables, images, [0, 3, 1])
    np.testing.assert_array_equal(cube["misclassified"].values, wrong)
    with pytest.raises(ValueError, match="method='fast' needs an onepixel.CNN"):
        flip_search(model, variables, images, method="fast")


def test_the_cnn_fast_path_agrees_with_the_plain_path_on_every_candidate(trained_d16):
    ds, chosen, arch, result = trained_d16
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    fast = flip_search(CNN(arch), result.params, images, labels)
    plain = flip_search(CNN(arch), result.params, images, labels, method="plain")
    assert fast.attrs["search_method_used"] == "fast"
    np.testing.assert_array_equal(fast["misclassified"].values, plain["misclassified"].values)
    np.testing.assert_array_equal(fast["adversarial"].values, plain["adversarial"].values)
    np.testing.assert_allclose(fast["margin"].values, plain["margin"].values, atol=1e-4)
    assert fast.attrs["n_adversarial"] == plain.attrs["n_adversarial"] > 0


@pytest.mark.parametrize(
    ("arch", "n_images"),
    [
        (Architecture(8, conv_channels=(16,), dense_units=32, n_classes=10), 60),
        (Architecture(12, conv_channels=(8, 8), dense_units=16, n_classes=3), 40),
    ],
    ids=["10 classes, one block", "3 classes, two blocks"],
)
def test_multi_class_cnn_fast_path_agrees_with_plain_on_every_candidate(arch, n_images):
    rng = np.random.default_rng(arch.n_classes)
    images = rng.integers(0, 2, size=(n_images, arch.size, arch.size)).astype(np.uint8)
    params = CNN(arch).init(jax.random.key(3), jnp.zeros((1, arch.size, arch.size)))["params"]
    labels = rng.integers(0, arch.n_classes, n_images)
    fast = flip_search(CNN(arch), params, images, labels, method="fast")
    plain = flip_search(CNN(arch), params, images, labels, method="plain")
    assert fast.attrs["search_method_used"] == "fast" and fast.attrs["n_classes"] == arch.n_classes
    np.testing.assert_array_equal(fast["misclassified"].values, plain["misclassified"].values)
    np.testing.assert_allclose(fast["margin"].values, plain["margin"].values, atol=1e-4)
    assert 0 < fast.attrs["n_adversarial"] == plain.attrs["n_adversarial"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(images=np.zeros((2, 4))), r"images: expected a numpy array \(N, H, W\)"),
        (dict(images=np.full((2, 4, 4), 2)), r"images: values must be 0 or 1"),
        (dict(images=np.full((2, 4, 4), 2, np.uint8)), r"images: values must be 0 or 1"),
        (dict(images=np.full((2, 4, 4), -1, np.int8)), r"images: values must be 0 or 1"),
        (dict(images=np.full((2, 4, 4), 0.5)), r"images: values must be 0 or 1"),
        (dict(images=np.full((2, 4, 4), np.nan)), r"images: values must be 0 or 1"),
        (dict(images=np.zeros((2, 5, 5))), r"images: shape \(5, 5\) but the CNN expects 4x4"),
        (dict(labels=np.array([0])), r"labels: expected 2 integer class indices"),
        (dict(labels=np.array([0.5, 1.0])), r"labels: expected 2 integer class indices"),
        (dict(labels=np.array([0, -1])), r"labels: class indices must be >= 0"),
        (dict(labels=np.array([0, 7])), r"labels: class 7 but the model has 2 outputs"),
        (dict(method="quick"), r"method='quick'; use one of"),
        (dict(recheck_below=-1), r"recheck_below=-1; use a number >= 0"),
        (dict(chunk_candidates=0), r"chunk_candidates=0; use a whole number >= 1"),
        (dict(model="not a model"), r"model: str is not a model flip_search takes; use an onepixel.CNN"),
    ],
)
def test_every_bad_argument_is_one_value_error(kwargs, message):
    arch = Architecture(4, conv_channels=(2,), kernel=3, pool=1, dense_units=4)
    params = CNN(arch).init(jax.random.key(0), jnp.zeros((1, 4, 4)))["params"]
    call = dict(model=CNN(arch), params=params, images=np.zeros((2, 4, 4), np.uint8), labels=None)
    call.update(kwargs)
    with pytest.raises(ValueError, match=message):
        flip_search(call.pop("model"), call.pop("params"), call.pop("images"), call.pop("labels"), **call)


@pytest.mark.parametrize(
    "images",
    [np.ones((2, 4, 4), bool), np.ones((2, 4, 4), np.int64), np.ones((2, 4, 4), np.float32)],
)
def test_binary_images_of_any_dtype_are_searched(images):
    arch = Architecture(4, conv_channels=(2,), kernel=3, pool=1, dense_units=4)
    params = CNN(arch).init(jax.random.key(0), jnp.zeros((1, 4, 4)))["params"]
    images = images.copy()
    images[1, 1:3, 2] = 0  # two different images, so the two cubes differ
    cube = flip_search(CNN(arch), params, images)
    # The same search as on the same 0/1 values as uint8.
    reference = flip_search(CNN(arch), params, images.astype(np.uint8))
    for name in ("margin", "misclassified", "adversarial", "lands_on", "base_margin", "label"):
        np.testing.assert_array_equal(cube[name].values, reference[name].values, err_msg=name)
    assert (
        cube.attrs["n_candidates"] == 32 and cube.attrs["n_adversarial"] == reference.attrs["n_adversarial"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(size=16.0), r"size=16.0; use a whole number >= 1"),
        (dict(size=16, conv_channels=()), r"conv_channels=\(\); give at least one conv block"),
        (dict(size=16, conv_channels=(32, 0)), r"conv_channels entry=0"),
        (dict(size=16, kernel=0), r"kernel=0"),
        (dict(size=16, pool=True), r"pool=True"),
        (dict(size=16, dense_units=-3), r"dense_units=-3"),
        (dict(size=16, dropout=1.0), r"dropout=1.0; use a rate in \[0, 1\)"),
        (dict(size=16, n_classes=1), r"n_classes=1; use a whole number >= 2"),
    ],
)
def test_architecture_checks_every_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Architecture(**kwargs)


def test_public_names_are_exported_with_docstrings():
    for name in onepixel.__all__:
        assert getattr(onepixel, name).__doc__, name


@pytest.mark.slow
def test_the_workflow_cube_is_what_flip_search_returns(tiny_study):
    """One engine: a study's network through the API gives the workflow's cube."""
    from onepixel.data.lines import read_dataset, selected_images
    from onepixel.search.cube import dataset_landing

    work, _ = tiny_study
    network = onepixel.load_network(work / "results/models/paper/D16_step4.0/seed1")
    assert network.model.arch == Architecture(16) and network.summary["seed"] == 1
    stored = onepixel.open_cube(work / "results/search/paper/D16_step4.0/seed1.nc")
    ds = read_dataset(work / "results/datasets/D16_step4.0.nc")
    chosen = selected_images(ds, True)
    cube = flip_search(
        network.model,
        network.params,
        ds["images"].values[chosen],
        ds["label"].values[chosen],
        lands_on=dataset_landing(ds, chosen),
    )
    for name in ("margin", "misclassified", "adversarial", "on_manifold", "lands_on", "base_margin"):
        np.testing.assert_array_equal(cube[name].values, stored[name].values, err_msg=name)
    assert cube.attrs["n_adversarial"] == stored.attrs["n_adversarial"]


@pytest.mark.slow
def test_the_api_pages_snippets_run(tmp_path, monkeypatch):
    """docs/api.md's snippets, as a user copies them, in order; the PyTorch export (this suite has no
    PyTorch) is stood in for by the same graph built with onnx.helper, and the study's files are
    tested in test_the_workflow_cube_is_what_flip_search_returns."""
    import re

    import onnx

    from .conftest import REPO
    from .onnx_graphs import cnn_graph

    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), re.DOTALL)
    namespace: dict = {}
    ran = 0
    for block in blocks:
        if "import torch" in block:
            onnx.save(cnn_graph(namespace["arch"], namespace["trained"].params), "net.onnx")
            continue
        if "results/models" in block:
            continue
        exec(block, namespace)  # the documentation's own code
        ran += 1
    assert ran == 8
    assert namespace["trained"].reached_full_accuracy
    assert namespace["fast"].attrs["search_method_used"] == "fast"
    assert namespace["targeted"].attrs["targeted"] == 1
    assert namespace["cube"].attrs["n_candidates"] == 200 * 256 and (tmp_path / "cube.nc").exists()
