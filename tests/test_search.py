import jax
import numpy as np
import pytest

from onepixel.dataset import build_dataset
from onepixel.model import Architecture, OnePixelCNN, init_params, margin
from onepixel.search import plain_flip_margins, search_dataset


def by_hand(arch, params, image, row, col):
    """Flip one pixel in numpy and run the model on that single image."""
    flipped = image.astype(np.float32).copy()
    flipped[row, col] = 1.0 - flipped[row, col]
    return float(margin(OnePixelCNN(arch).apply({"params": params}, flipped[None]))[0])


def test_cube_entries_equal_flip_by_hand(trained_d16, config):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen]
    cube = plain_flip_margins(arch, result.params, images, chunk_candidates=3000)
    assert cube.shape == (len(images), 16, 16)
    rng = np.random.default_rng(0)
    samples = [
        (int(i), int(r), int(c))
        for i, r, c in zip(
            rng.integers(0, len(images), 40), rng.integers(0, 16, 40), rng.integers(0, 16, 40), strict=False
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


def test_search_dataset_adversarial_is_misclassified_and_off_the_manifold(trained_d16, config):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen]
    margins = plain_flip_margins(arch, result.params, images)
    from onepixel.search import base_margins

    cube = search_dataset(
        ds,
        chosen,
        margins,
        base_margins(arch, result.params, images),
        config,
        size=16,
        angle_step=2.0,
        seed=0,
    )
    labels = ds["label"].values[chosen]
    misclassified = (margins > 0) != labels.astype(bool)[:, None, None]
    np.testing.assert_array_equal(cube["misclassified"].values, misclassified)
    expected = misclassified & ~cube["on_manifold"].values
    np.testing.assert_array_equal(cube["adversarial"].values, expected)
    # D=16 step 2: 48 flips onto other valid images (same label), none adversarial.
    assert cube.attrs["n_on_manifold"] == int((cube["lands_on"].values >= 0).sum()) > 0
    assert cube.attrs["n_adversarial"] == int(expected.sum())
    assert 0 <= cube.attrs["adversarial_rate"] <= 1
    np.testing.assert_array_equal(cube["angle"].values, ds["rep_angle"].values[chosen])
    assert cube.attrs["n_base_errors"] == 0
