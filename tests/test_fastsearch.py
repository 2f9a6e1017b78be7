"""The fast search against the plain reference (full forward of every flipped image)."""

import logging

import jax
import numpy as np
import pytest

from onepixel.dataset import build_dataset
from onepixel.fastsearch import (
    FastSearchStats,
    fast_flip_margins,
    fast_path_problem,
    flip_geometry,
)
from onepixel.model import Architecture, init_params
from onepixel.search import (
    base_margins,
    flip_margins,
    make_plain_flip_fn,
    plain_flip_margins,
    recheck_near_zero,
)


def assert_same_decisions(fast, plain):
    np.testing.assert_array_equal(fast > 0, plain > 0)
    np.testing.assert_allclose(fast, plain, atol=1e-4, rtol=0)


def plain_on(arch, params, images, image_idx, pixel_idx):
    fn = make_plain_flip_fn(arch)
    return np.asarray(fn(params, jax.numpy.asarray(images, jax.numpy.float32), image_idx, pixel_idx))


def test_geometry_is_derived_from_the_layer_spec():
    # The paper's net: a flip reaches 2x2 cells after pool 1, 3x3 after pool 2,
    # fed by an 18x18 input window.
    geom = flip_geometry(Architecture(80))
    assert geom.region == (2, 3)
    assert geom.window == 18
    assert geom.pooled_size == (39, 18)
    # Small D: the whole 2x2 last map is the region.
    assert flip_geometry(Architecture(16)).region[-1] == 2
    # Other kernels / pools / depths give other windows, not hand-written ones.
    geom5 = flip_geometry(Architecture(64, conv_channels=(8, 8), kernel=5))
    assert geom5.region == (3, 4) and geom5.window == (4 * 2 + 4) * 2 + 4
    assert flip_geometry(Architecture(64, conv_channels=(8, 8, 8))).n_blocks == 3


def test_whole_d16_set_same_decisions_as_plain(trained_d16):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen]
    plain = plain_flip_margins(arch, result.params, images)
    fast, base = fast_flip_margins(arch, result.params, images)
    assert_same_decisions(fast, plain)
    np.testing.assert_allclose(base, base_margins(arch, result.params, images), atol=1e-5)
    # A trained net: there is something to find, and the fast path finds the same.
    labels = ds["label"].values[chosen].astype(bool)[:, None, None]
    assert ((fast > 0) != labels).sum() == ((plain > 0) != labels).sum() > 0


@pytest.mark.parametrize(
    "size, arch_kwargs",
    [
        (17, {}),  # odd D
        (20, {}),  # 3x3 last region, edge and corner groups differ in size
        (21, {"conv_channels": (8, 8), "kernel": 5, "dense_units": 16}),
        (30, {"conv_channels": (4, 6, 5), "dense_units": 12}),  # three blocks
        (23, {"conv_channels": (6, 6), "pool": 3, "dense_units": 10}),
    ],
)
def test_whole_small_sets_every_pixel(config, size, arch_kwargs):
    arch = Architecture(size, **arch_kwargs)
    params = init_params(arch, jax.random.key(size))
    images = build_dataset(size, 12.0, config)["images"].values[:12]
    plain = plain_flip_margins(arch, params, images, chunk_candidates=2048)
    fast, _ = fast_flip_margins(arch, params, images)
    assert_same_decisions(fast, plain)


@pytest.mark.parametrize("size", [48, 64, 80])
def test_large_sizes_on_samples(config, size):
    arch = Architecture(size)
    params = init_params(arch, jax.random.key(size))
    ds = build_dataset(size, 6.0, config)
    rng = np.random.default_rng(size)
    images = ds["images"].values[rng.choice(ds.sizes["image"], 24, replace=False)]
    stats = FastSearchStats()
    fast, _ = fast_flip_margins(arch, params, images, stats=stats)
    assert stats.candidates == fast.size
    assert stats.unique_pairs < stats.candidates  # empty windows repeat
    # Every corner and edge pixel of two images, plus random interior candidates.
    edge = [p for p in range(size * size) if p // size in (0, size - 1) or p % size in (0, size - 1)]
    image_idx = np.concatenate([np.zeros(len(edge), int), np.ones(len(edge), int), rng.integers(0, 24, 1500)])
    pixel_idx = np.concatenate([edge, edge, rng.integers(0, size * size, 1500)])
    plain = plain_on(arch, params, images, image_idx, pixel_idx)
    assert_same_decisions(fast.reshape(len(images), -1)[image_idx, pixel_idx], plain)


def test_recheck_replaces_near_zero_margins_with_plain_values(trained_d16):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen][:10]
    plain = plain_flip_margins(arch, result.params, images)
    tampered = plain.copy()
    tampered[0, 3, 4] = 5e-5
    tampered[7, 15, 0] = -2e-5
    n = recheck_near_zero(arch, result.params, images, tampered, 1e-4)
    assert n >= 2
    np.testing.assert_allclose(tampered, plain, atol=1e-6)


def test_search_config_switch_and_fallback(trained_d16, config, caplog):
    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen][:20]
    fast, base_f, info_f = flip_margins(arch, result.params, images, config["search"])
    assert info_f["search_method_used"] == "fast"
    plain, base_p, info_p = flip_margins(arch, result.params, images, {**config["search"], "method": "plain"})
    assert info_p["search_method_used"] == "plain"
    assert_same_decisions(fast, plain)
    # A network the fast path does not cover (3 classes) falls back, loudly.
    arch3 = Architecture(16, n_classes=3)
    params3 = init_params(arch3, jax.random.key(0))
    assert "3 output classes" in fast_path_problem(arch3, params3)
    with caplog.at_level(logging.WARNING):
        margins, _, info = flip_margins(arch3, params3, images[:2], config["search"])
    assert info["search_method_used"] == "plain"
    assert "does not cover" in caplog.text
    assert margins.shape == (2, 16, 16)
