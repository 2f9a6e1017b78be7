"""Training's stopping check: it may stop counting errors early, never changing where training stops."""

import jax
import numpy as np
import pytest

from onepixel.data.lines import build_dataset, selected_images
from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params
from onepixel.models.inference import make_class_fn
from onepixel.training import train as training


@pytest.fixture
def untrained_d16(tiny_config):
    ds = build_dataset(16, 1.0, tiny_config)
    chosen = selected_images(ds, True)
    images = ds["images"].values[chosen].astype(np.float32)
    labels = ds["label"].values[chosen].astype(np.int32)
    arch = Architecture.from_config(16, tiny_config["model"])
    return arch, init_params(arch, jax.random.key(1)), images, labels


def plain_errors(arch, params, images, labels) -> np.ndarray:
    """Images whose plain forward pass has its first maximal logit elsewhere than the label."""
    logits = np.asarray(CNN(arch).apply({"params": params}, np.asarray(images, np.float32)))
    return np.flatnonzero(logits.argmax(axis=1) != labels)


def test_the_error_check_stops_after_the_first_chunk_with_an_error(untrained_d16, monkeypatch):
    arch, params, images, labels = untrained_d16
    monkeypatch.setattr(training, "EVAL_CHUNK", 32)
    class_fn = make_class_fn(arch)
    truth = plain_errors(arch, params, images, labels)
    # An untrained net: some errors, not all, the first of them before the last chunk.
    assert 0 < truth.size < len(images) and truth[0] < len(images) - 32

    nothing = np.zeros(0, int)
    wrong, checked = training.misclassified(class_fn, params, images, labels, nothing, complete=True)
    np.testing.assert_array_equal(wrong, truth)
    assert checked == len(images)

    # Images are checked in order: the first chunk holding an error ends the count.
    first_chunk_with_error = truth[0] // 32
    wrong, checked = training.misclassified(class_fn, params, images, labels, nothing, complete=False)
    assert checked == 32 * (first_chunk_with_error + 1)
    np.testing.assert_array_equal(wrong, truth[truth < checked])

    # The last epoch's errors are checked first: one chunk suffices.
    last = truth[-3:]
    wrong, checked = training.misclassified(class_fn, params, images, labels, last, complete=False)
    assert checked == 32 and set(last) <= set(wrong) <= set(truth)

    # With no error, every image is checked.
    correct = np.setdiff1d(np.arange(len(images)), truth)
    wrong, checked = training.misclassified(
        class_fn, params, images[correct], labels[correct], nothing, complete=False
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


def three_class_lines(tiny_config):
    """The D = 16 line images in three classes by angle: [0, 60), [60, 120), [120, 180) degrees."""
    ds = build_dataset(16, 4.0, tiny_config)
    angles = ds["rep_angle"].values % 180.0
    labels = np.minimum(angles // 60.0, 2).astype(np.int64)
    return ds["images"].values, labels


def test_a_three_class_net_stops_at_the_first_epoch_with_no_argmax_error(tiny_config):
    images, labels = three_class_lines(tiny_config)
    assert set(labels.tolist()) == {0, 1, 2}
    arch = Architecture(16, n_classes=3)
    training_cfg = {**tiny_config["training"], "max_epochs": 60}
    result = training.train(images, labels, arch, training_cfg, seed=0)
    assert result.reached_full_accuracy and result.epochs > 1
    assert result.history[-1]["n_errors"] == 0
    assert plain_errors(arch, result.params, images, labels).size == 0
    # The same seed retraces the same path: one epoch fewer leaves argmax errors,
    # exactly as many as the last-but-one epoch recorded where it checked every image.
    before = training.train(images, labels, arch, {**training_cfg, "max_epochs": result.epochs - 1}, seed=0)
    errors_before = plain_errors(arch, before.params, images, labels)
    assert errors_before.size > 0
    assert before.history[-1]["n_errors"] == errors_before.size
    assert before.history[-1]["n_checked"] == len(images)
