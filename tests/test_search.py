import jax
import numpy as np
import pytest

from onepixel.data.lines import build_dataset
from onepixel.models.cnn import CNN, Architecture, init_params, margin
from tests.reference import plain_flip_margins


def by_hand(arch, params, image, row, col):
    """Flip one pixel in numpy and run the model on that single image."""
    flipped = image.astype(np.float32).copy()
    flipped[row, col] = 1.0 - flipped[row, col]
    return float(margin(CNN(arch).apply({"params": params}, flipped[None]))[0])


def test_cube_entries_equal_flip_by_hand(trained_d16, config):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen]
    cube = plain_flip_margins(arch, result.params, images, chunk_candidates=3000)
    assert cube.shape == (len(images), 16, 16)
    rng = np.random.default_rng(0)
    samples = [
        (int(i), int(r), int(c))
        for i, r, c in zip(
            rng.integers(0, len(images), 40), rng.integers(0, 16, 40), rng.integers(0, 16, 40), strict=True
        )
    ]
    samples += [(0, 0, 0), (0, 0, 15), (0, 15, 0), (len(images) - 1, 15, 15), (3, 8, 8)]
    for i, r, c in samples:
        assert cube[i, r, c] == pytest.approx(by_hand(arch, result.params, images[i], r, c), abs=1e-4)


def test_whole_odd_size_set_matches_flip_by_hand(config):
    # Untrained net on an odd D: every candidate of a few images, edges included.
    arch = Architecture(17)
    params = init_params(arch, jax.random.key(7))
    ds = build_dataset(17, 30.0, config)
    images = ds["images"].values[:3]
    cube = plain_flip_margins(arch, params, images, chunk_candidates=100)
    for i in range(len(images)):
        for r in range(17):
            for c in range(17):
                assert cube[i, r, c] == pytest.approx(by_hand(arch, params, images[i], r, c), abs=1e-4)


def test_cube_adversarial_is_misclassified_and_off_the_manifold(trained_d16):
    from onepixel import CNN, flip_search
    from onepixel.search.cube import dataset_landing

    ds, chosen, arch, result = trained_d16
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    margins = plain_flip_margins(arch, result.params, images)  # logit_1 - logit_0, the reference
    cube = flip_search(CNN(arch), result.params, images, labels, lands_on=dataset_landing(ds, chosen))
    misclassified = (margins > 0) != labels.astype(bool)[:, None, None]
    np.testing.assert_array_equal(cube["misclassified"].values, misclassified)
    # The cube's margin is the label's logit minus the other: logit_1 - logit_0 for label 1.
    sign = np.where(labels == 1, 1.0, -1.0)[:, None, None]
    np.testing.assert_allclose(cube["margin"].values, margins * sign, atol=1e-4)
    expected = misclassified & ~cube["on_manifold"].values
    np.testing.assert_array_equal(cube["adversarial"].values, expected)
    # D=16 step 2: 48 flips onto other valid images (same label), none adversarial.
    assert cube.attrs["n_on_manifold"] == int((cube["lands_on"].values >= 0).sum()) == 48
    assert cube.attrs["n_adversarial"] == int(expected.sum())
    assert 0 <= cube.attrs["adversarial_rate"] <= 1
    assert cube.attrs["n_base_errors"] == 0
