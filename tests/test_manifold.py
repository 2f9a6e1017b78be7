"""Flips that land on another valid image: found exactly, never counted as adversarial."""

import numpy as np
import xarray as xr

from onepixel.data.flips import one_flip_pairs
from onepixel.data.lines import build_dataset
from onepixel.search.cube import dataset_landing, flip_cube


def brute_force_pairs(images):
    flat = images.reshape(len(images), -1).astype(bool)
    distance = (flat[:, None, :] != flat[None, :, :]).sum(axis=2)
    found = []
    for a, b in zip(*np.nonzero(distance == 1), strict=True):
        pixel = int(np.flatnonzero(flat[a] != flat[b])[0])
        found.append((int(a), pixel, int(b)))
    return sorted(found)


def as_triples(pairs, width):
    source, row, col, target = pairs
    return sorted(zip(source.tolist(), (row * width + col).tolist(), target.tolist(), strict=True))


def test_pairs_equal_a_brute_force_hamming_search(config):
    ds = build_dataset(16, 1.0, config)
    images = ds["images"].values
    pairs = (ds[name].values for name in ("pair_image", "pair_row", "pair_col", "pair_target"))
    expected = brute_force_pairs(images)
    assert as_triples(tuple(pairs), 16) == expected
    labels = ds["label"].values
    # Even D: some one-pixel pairs join images of different labels (the 4 at D=16, step 1).
    assert sum(labels[a] != labels[b] for a, _, b in expected) > 0


def test_odd_size_has_no_one_pixel_pairs(config):
    ds = build_dataset(17, 2.0, config)
    assert ds.sizes["pair"] == 0 and ds.attrs["n_one_flip_pairs"] == 0


def test_pairs_survive_hash_collisions(monkeypatch):
    import onepixel.data.flips as dataset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 2, size=(40, 5, 5)).astype(np.uint8)
    images[1] = images[0]
    images[1, 2, 3] ^= 1
    images = np.unique(images, axis=0)
    expected = brute_force_pairs(images)
    assert expected
    # Force every key to collide: only the pixel-by-pixel check separates them.
    monkeypatch.setattr(dataset, "ZOBRIST_SEED", 1)
    real = np.random.default_rng

    class ZeroWords:
        def __init__(self, seed):
            self.rng = real(seed)

        def integers(self, low, high, size, dtype):
            return np.zeros(size, dtype)

    monkeypatch.setattr(np.random, "default_rng", ZeroWords)
    assert as_triples(one_flip_pairs(images), 5) == expected


def hand_built_pair():
    """Two 4x4 images one pixel apart, labels 0 and 1, as a dataset."""
    a = np.zeros((4, 4), np.uint8)
    a[1, :] = 1
    b = a.copy()
    b[2, 2] = 1
    images = np.stack([a, b])
    source, row, col, target = one_flip_pairs(images)
    return xr.Dataset(
        {
            "images": (("image", "row", "col"), images),
            "label": ("image", np.array([0, 1], np.int8)),
            "pair_image": ("pair", source),
            "pair_row": ("pair", row),
            "pair_col": ("pair", col),
            "pair_target": ("pair", target),
        },
        coords={
            "image": [0, 1],
            "row": np.arange(4),
            "col": np.arange(4),
            "rep_angle": ("image", [50.0, 30.0]),
            "rep_length": ("image", [4, 4]),
        },
    )


def test_flip_onto_a_valid_image_of_the_other_label_is_not_adversarial():
    ds = hand_built_pair()
    assert ds.sizes["pair"] == 2  # a -> b and b -> a, both at (2, 2)
    # A net that is right on both images: flipping (2, 2) of image a gives image b,
    # classified 1 (correct for b); flipping (0, 0) of a is a real adversarial example.
    margins = np.full((2, 4, 4), -1.0, np.float32)
    margins[1] = 1.0
    margins[0, 2, 2] = 1.0
    margins[0, 0, 0] = 1.0
    margins[1, 2, 2] = -1.0
    labels = ds["label"].values
    wrong = (margins > 0) != labels.astype(bool)[:, None, None]
    lands_on = dataset_landing(ds, np.array([0, 1]))
    cube = flip_cube(margins, wrong, np.array([1.0, 1.0]), np.array([False, False]), labels, lands_on)
    assert cube["misclassified"].values[0, 2, 2] and cube["misclassified"].values[1, 2, 2]
    assert cube["on_manifold"].values.sum() == 2
    assert cube["lands_on"].values[0, 2, 2] == 1 and cube["lands_on"].values[1, 2, 2] == 0
    assert not cube["adversarial"].values[0, 2, 2] and not cube["adversarial"].values[1, 2, 2]
    assert cube["adversarial"].values[0, 0, 0]
    assert cube.attrs["n_adversarial"] == 1 and cube["n_adversarial"].values.tolist() == [1, 0]
    assert cube.attrs["n_on_manifold"] == 2
    assert cube.attrs["n_on_manifold_misclassified"] == 2


def test_flip_search_finds_valid_landings_among_the_given_images():
    from onepixel import flip_search

    ds = hand_built_pair()
    images = ds["images"].values

    import jax.numpy as jnp

    def apply(params, x):  # class 1 iff pixel (2, 2) is on: right on both images
        on = x[:, 2, 2]
        return jnp.stack([1 - on, on], axis=1)

    cube = flip_search(apply, None, images, np.array([0, 1]))
    # Flipping (2, 2) turns each image into the other: misclassified, but on the manifold.
    assert cube["misclassified"].values[:, 2, 2].all() and cube["on_manifold"].values[:, 2, 2].all()
    assert cube["lands_on"].values[0, 2, 2] == 1 and cube.attrs["n_adversarial"] == 0
