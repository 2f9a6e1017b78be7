"""Training's stopping check: it may stop counting errors early, never changing where training stops."""

import jax
import numpy as np
import pytest

from onepixel import train as training
from onepixel.dataset import build_dataset, selected_images
from onepixel.model import Architecture, init_params


@pytest.fixture
def untrained_d16(tiny_config):
    ds = build_dataset(16, 1.0, tiny_config)
    chosen = selected_images(ds, True)
    images = ds["images"].values[chosen].astype(np.float32)
    labels = ds["label"].values[chosen].astype(np.int32)
    arch = Architecture.from_config(16, tiny_config["model"])
    return arch, init_params(arch, jax.random.key(1)), images, labels


def plain_errors(arch, params, images, labels) -> np.ndarray:
    logits = np.asarray(training.CNN(arch).apply({"params": params}, images))
    return np.flatnonzero((logits[:, 1] > logits[:, 0]) != labels.astype(bool))


def test_the_error_check_stops_after_the_first_chunk_with_an_error(untrained_d16, monkeypatch):
    arch, params, images, labels = untrained_d16
    monkeypatch.setattr(training, "EVAL_CHUNK", 32)
    margin_fn = training.make_margin_fn(arch)
    truth = plain_errors(arch, params, images, labels)
    # An untrained net: some errors, not all, the first of them before the last chunk.
    assert 0 < truth.size < len(images) and truth[0] < len(images) - 32

    nothing = np.zeros(0, int)
    wrong, checked = training.misclassified(margin_fn, params, images, labels, nothing, complete=True)
    np.testing.assert_array_equal(wrong, truth)
    assert checked == len(images)

    # Images are checked in order: the first chunk holding an error ends the count.
    first_chunk_with_error = truth[0] // 32
    wrong, checked = training.misclassified(margin_fn, params, images, labels, nothing, complete=False)
    assert checked == 32 * (first_chunk_with_error + 1)
    np.testing.assert_array_equal(wrong, truth[truth < checked])

    # The last epoch's errors are checked first: one chunk suffices.
    last = truth[-3:]
    wrong, checked = training.misclassified(margin_fn, params, images, labels, last, complete=False)
    assert checked == 32 and set(last) <= set(wrong) <= set(truth)

    # With no error, every image is checked.
    correct = np.setdiff1d(np.arange(len(images)), truth)
    wrong, checked = training.misclassified(
        margin_fn, params, images[correct], labels[correct], nothing, complete=False
    )
    assert wrong.size == 0 and checked == correct.size


def test_stopping_early_in_the_check_trains_the_same_net(tiny_config, monkeypatch):
    ds = build_dataset(16, 2.0, tiny_config)
    chosen = selected_images(ds, True)
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    arch = Architecture.from_config(16, tiny_config["model"])
    monkeypatch.setattr(training, "EVAL_CHUNK", 16)
    early = training.train(images, labels, arch, tiny_config["training"], seed=0)

    full_check = training.misclassified

    def always_complete(*args, complete):
        return full_check(*args, complete=True)

    monkeypatch.setattr(training, "misclassified", always_complete)
    complete = training.train(images, labels, arch, tiny_config["training"], seed=0)

    assert early.reached_full_accuracy and complete.reached_full_accuracy
    assert early.epochs == complete.epochs > 1
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(early.params), leaves(complete.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Cut-short epochs record a lower bound; the last epoch is exact, as with the full check.
    assert all(r["n_errors"] <= c["n_errors"] for r, c in zip(early.history, complete.history, strict=True))
    assert early.history[-1] == {**complete.history[-1], "seconds": early.history[-1]["seconds"]}
    assert any(r["n_checked"] < len(images) for r in early.history)
    assert all((r["accuracy"] is None) == (r["n_checked"] < len(images)) for r in early.history)
