"""The fast search against the plain reference (full forward of every flipped image)."""

import logging

import jax
import numpy as np
import pytest

from onepixel.data.lines import build_dataset
from onepixel.models.cnn import Architecture, init_params
from onepixel.search import fast as fastsearch
from onepixel.search.fast import (
    FastSearchStats,
    PackedImages,
    axis_plan,
    fast_flip_margins,
    fast_path_problem,
    unique_keys,
)
from tests.reference import (
    base_margins,
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


def test_axis_plan_spans_cover_every_reached_cell():
    # Paper net at D=80: interior spans are 2 or 3 pooled cells wide, a patch
    # is 6x6 (2x2 cells after pool 1), and every span lies inside the map.
    arch = Architecture(80)
    plan = axis_plan(arch)
    assert plan.patch_width == 6 and plan.region == 2 and plan.change_width == 4
    assert set(plan.span_width[plan.reaches]) == {2, 3}
    last = arch.feature_sizes()[-1]
    assert (plan.span_start[plan.reaches] + plan.span_width[plan.reaches] <= last).all()
    # The last conv row/column (37) is dropped by floor pooling: pixels that
    # only feed it change nothing; all others reach the last map.
    assert not plan.reaches[79] and plan.reaches[:78].all()
    assert (plan.window_stop[plan.reaches] <= 80).all() and (plan.window_start >= 0).all()
    # Other kernels / pools / depths give other sizes, derived, not hand-written.
    plan5 = axis_plan(Architecture(64, conv_channels=(8, 8), kernel=5))
    assert (plan5.region, plan5.patch_width, plan5.change_width) == (3, 3 * 2 + 4, 3 + 4)
    assert set(plan5.span_width[plan5.reaches]) == {3, 4}
    deep = axis_plan(Architecture(64, conv_channels=(8, 8, 8)))
    assert (deep.region, deep.patch_width) == (3, (3 * 2 + 2) * 2 + 2)
    # Small D: the whole 2x2 last map is the widest span.
    assert axis_plan(Architecture(16)).span_width.max() == 2
    # A flip's field (the inputs its reached prefix cells depend on, the key its
    # patches are deduplicated by) holds the pixel and lies in its patch; it is
    # narrower than the patch where the flip reaches fewer prefix cells.
    for each, fields in ((plan, {4, 6}), (plan5, {6, 8, 10}), (deep, {10, 14, 18})):
        pixels = np.flatnonzero(each.reaches)
        start, width = each.field_start[pixels], each.field_width[pixels]
        assert set(width) == fields
        assert (start <= pixels).all() and (pixels < start + width).all()
        assert (start >= each.patch_start[pixels]).all()
        assert (start + width <= each.patch_start[pixels] + each.patch_width).all()


def test_packed_window_keys_match_the_pixels():
    # D=150: windows inside one 64-bit word, across word boundaries, and wider than 64.
    rng = np.random.default_rng(0)
    images = (rng.random((40, 150, 150)) < 0.3).astype(np.uint8)
    packed = PackedImages(images)
    for row, col, height, width in [(0, 0, 6, 6), (10, 60, 18, 18), (5, 62, 3, 70), (140, 130, 10, 20)]:
        keys = packed.window_keys(None, row, col, height, width)
        subset = packed.window_keys(np.array([3, 7]), row, col, height, width)
        np.testing.assert_array_equal(subset, keys[[3, 7]])
        windows = images[:, row : row + height, col : col + width].reshape(40, -1)
        # Same windows <=> same keys.
        same_pixels = (windows[:, None] == windows[None]).all(-1)
        same_keys = (keys[:, None] == keys[None]).all(-1)
        np.testing.assert_array_equal(same_pixels, same_keys)
        # Bit c of a row's key is column col + c.
        bits = (keys[:, :height] >> np.uint64(min(width, 64) - 1)) & np.uint64(1)
        np.testing.assert_array_equal(bits, images[:, row : row + height, col + min(width, 64) - 1])


@pytest.mark.parametrize("collide", [False, True])
def test_unique_keys_groups_rows_exactly(monkeypatch, collide):
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 4, (500, 5)).astype(np.uint64)  # many repeated rows
    if collide:
        # Every row hashes to its first word: collisions, caught by the exact check.
        monkeypatch.setattr(fastsearch.keys, "_HASH_MULTIPLIERS", np.zeros(8, np.uint64))
    first, inverse = unique_keys(keys)
    np.testing.assert_array_equal(keys[first][inverse], keys)
    assert len(first) == len(np.unique(keys, axis=0))
    assert (first == np.array([np.flatnonzero(inverse == i)[0] for i in range(len(first))])).all()


def test_bands_of_rows_give_the_same_margins(config):
    # A tiny band budget forces several overlapping bands of the last conv map.
    arch = Architecture(48)
    params = init_params(arch, jax.random.key(3))
    images = build_dataset(48, 6.0, config)["images"].values[::7][:30]
    whole, base_whole = fast_flip_margins(arch, params, images)
    row_bytes = len(images) * (arch.feature_sizes()[0] - 2) * 32 * 4
    stats = FastSearchStats()
    banded, base_banded = fast_flip_margins(arch, params, images, band_bytes=7 * row_bytes, stats=stats)
    assert stats.bands >= 3
    np.testing.assert_allclose(banded, whole, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(base_banded, base_whole)
    rng = np.random.default_rng(4)
    image_idx, pixel_idx = rng.integers(0, len(images), 1500), rng.integers(0, 48 * 48, 1500)
    plain = plain_on(arch, params, images, image_idx, pixel_idx)
    assert_same_decisions(banded.reshape(len(images), -1)[image_idx, pixel_idx], plain)


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


@pytest.mark.slow
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


def test_recheck_gives_the_plain_values_in_any_chunk_size(trained_d16, monkeypatch):
    """Bucketed, 1,024 a chunk or 16 a chunk: the plain pass's values, and the same bits on a rerun.

    Not the same bits across chunk sizes on every CPU: XLA's kernels for a
    batch of 128 may sum in another order than for 16 (AMD EPYC, Zen 3: up
    to 6e-8 at D = 16 for margins near 0, 4e-7 relative for these).
    """
    import onepixel.search.plain as plain_module

    ds, chosen, arch, result = trained_d16
    images = ds["images"].values[chosen][:10]
    plain = plain_flip_margins(arch, result.params, images)
    threshold = np.sort(np.abs(plain).ravel())[40]  # 40 candidates re-checked
    near = np.abs(plain) < threshold
    for smallest, largest in ((16, 1024), (1024, 1024), (16, 16), (16, 1024)):
        monkeypatch.setattr(plain_module, "RECHECK_MIN_CHUNK", smallest)
        monkeypatch.setattr(plain_module, "RECHECK_CHUNK", largest)
        runs = []
        for _ in range(2):
            margins = np.zeros_like(plain) + 1.0
            margins[near] = 0.0  # the near ones, recomputed by the plain pass
            assert recheck_near_zero(arch, result.params, images, margins, 0.5) == 40
            runs.append(margins)
        np.testing.assert_array_equal(runs[0], runs[1])
        np.testing.assert_allclose(runs[0][near], plain[near], rtol=1e-6, atol=1e-6)
        assert (runs[0][~near] == 1.0).all()


def test_search_method_switch_and_fallback(trained_d16, caplog):
    from onepixel import CNN, flip_search

    ds, chosen, arch, result = trained_d16
    images, labels = ds["images"].values[chosen][:20], ds["label"].values[chosen][:20]
    fast = flip_search(CNN(arch), result.params, images, labels, method="fast")
    assert fast.attrs["search_method_used"] == "fast"
    plain = flip_search(CNN(arch), result.params, images, labels, method="plain")
    assert plain.attrs["search_method_used"] == "plain"
    np.testing.assert_array_equal(fast["misclassified"].values, plain["misclassified"].values)
    np.testing.assert_allclose(fast["margin"].values, plain["margin"].values, atol=1e-4)
    # Parameters of another layer stack (here one extra layer, which Flax ignores):
    # "auto" falls back to the plain search, loudly; "fast" refuses.
    extra = {**result.params, "Extra_0": {"kernel": np.zeros((3, 3))}}
    assert "not the conv/dense stack" in fast_path_problem(arch, extra)
    with caplog.at_level(logging.WARNING):
        cube = flip_search(CNN(arch), extra, images[:2], labels[:2], method="auto")
    assert cube.attrs["search_method_used"] == "plain"
    assert "does not cover" in caplog.text
    np.testing.assert_array_equal(cube["misclassified"].values, plain["misclassified"].values[:2])
    with pytest.raises(ValueError, match="does not cover this network.*conv/dense stack"):
        flip_search(CNN(arch), extra, images[:2], labels[:2], method="fast")


@pytest.mark.slow
def test_the_search_benchmark_compares_plain_a_ref_and_this_tree(tmp_path):
    from .bench import run_benchmark, table_row

    # No trained network under --models: random weights; HEAD as the ref (a git worktree).
    args = ["--ref", "HEAD", "--sizes", "16", "--step", "6", "--plain-candidates", "1024"]
    out = run_benchmark("search.py", *args, "--models", str(tmp_path))
    cells = table_row(out, "16")
    assert float(cells[3].replace(",", "")) > 0 and float(cells[5].replace(",", "")) > 0  # cand/s
    assert cells[6].endswith("x") and cells[7].endswith("x")  # fast / plain and new / HEAD
    assert cells[-2:] == ["0", "0"]  # no decision differs from plain's, nor from HEAD's
    assert "networks: D = 16: random weights" in out


@pytest.mark.slow
def test_the_training_and_de_benchmarks_compare_a_ref_with_this_tree(tmp_path):
    from .bench import run_benchmark, table_row

    out = run_benchmark("train.py", "--ref", "HEAD", "--sizes", "16", "--step", "6", "--epochs", "2")
    cells = table_row(out, "16")
    assert cells[4].endswith("x") and cells[5] == "2 / 2"
    assert float(cells[6]) < 1e-4  # the same batches and masks: the same losses
    de_args = [
        "--ref",
        "HEAD",
        "--sizes",
        "16",
        "--images",
        "2",
        "--max-iter",
        "3",
        "--models",
        str(tmp_path),
    ]
    cells = table_row(run_benchmark("de.py", *de_args), "16")
    assert cells[4].endswith("x") and cells[-1] == "yes"
    # This tree's proposals answered from a search, the ref's by the network: the same flips and queries.
    out = run_benchmark("de.py", *de_args, "--answers")
    assert "this tree's answers from an exhaustive search" in out
    cells = table_row(out, "16")
    assert cells[4].endswith("x") and cells[-1] == "yes"
