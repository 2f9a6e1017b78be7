"""The one-pixel flips that turn an image of a set into another image of the same set."""

from __future__ import annotations

import numpy as np

# Zobrist hashing: an image's key is the XOR of one random 64-bit word per set
# pixel, so flipping pixel p XORs the key with word p and every flip's key comes
# from one XOR. Matches are verified pixel by pixel, so collisions cannot mislead.
ZOBRIST_SEED = 20180927


def one_flip_pairs(images: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every (image, row, col) whose flip yields another image of the set, and that image.

    Returns ``(source, row, col, target)`` int32 arrays over all such directed
    pairs, sorted by source then pixel. Exact: candidate matches from the hash
    are compared pixel by pixel.
    """
    images = np.asarray(images).astype(bool)
    n, height, width = images.shape
    flat = images.reshape(n, -1)
    words = np.random.default_rng(ZOBRIST_SEED).integers(0, 2**63, size=height * width, dtype=np.uint64)
    # Set pixels, image by image: a line image has ~L of its D * D pixels set.
    superset, pixel = np.nonzero(flat)
    counts = np.bincount(superset, minlength=n)
    keys = np.zeros(n, np.uint64)
    if pixel.size:
        starts = (np.cumsum(counts) - counts)[counts > 0]
        keys[counts > 0] = np.bitwise_xor.reduceat(words[pixel], starts)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    # Two images one flip apart differ in one pixel, set in the larger one: so
    # clearing each set pixel of every image finds every pair, once, with ~L
    # lookups per image instead of D * D (D = 80 step 0.5: 0.7 M, not 72.5 M).
    cleared = keys[superset] ^ words[pixel]
    pos = np.searchsorted(sorted_keys, cleared).clip(max=n - 1)
    found = []
    for hit in np.flatnonzero(sorted_keys[pos] == cleared).tolist():
        s, p = int(superset[hit]), int(pixel[hit])
        subset_image = flat[s].copy()
        subset_image[p] = False
        # Every image with the same key (hash collisions are possible in principle).
        candidate = pos[hit]
        while candidate < n and sorted_keys[candidate] == cleared[hit]:
            target = int(order[candidate])
            if np.array_equal(flat[target], subset_image):
                found += [(s, p, target), (target, p, s)]
            candidate += 1
    pairs = np.array(sorted(found), np.int64).reshape(-1, 3)
    source, pixel, target = pairs.T
    return (
        source.astype(np.int32),
        (pixel // width).astype(np.int32),
        (pixel % width).astype(np.int32),
        target.astype(np.int32),
    )


def _cell_hashes(values: np.ndarray, channel_words: np.ndarray) -> np.ndarray:
    """One uint64 per pixel of (..., C) float32 values (-0.0 as 0.0), mixed so sums rarely collide."""
    bits = (values + np.float32(0)).view(np.uint32).astype(np.uint64) + np.uint64(1)
    mixed = bits * channel_words
    mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    return mixed.sum(axis=-1, dtype=np.uint64)


def corner_landing(values: np.ndarray, corners: np.ndarray, chunk: int = 256, sources: slice | None = None):
    """(S, K, H, W) index of the image of the set that setting each pixel to each corner yields, -1 for none.

    S: the images of ``sources`` (default all), looked up among all N images.

    ``values``: (N, H, W, C) float32; ``corners``: (K, C). An image's key is
    the sum of a hash per (pixel, value), so a changed pixel changes the key
    by one term; matches are verified value by value.
    """
    n, height, width, channels = values.shape
    rng = np.random.default_rng(ZOBRIST_SEED)
    pixel_words = rng.integers(1, 2**63, size=height * width, dtype=np.uint64) | np.uint64(1)
    channel_words = rng.integers(1, 2**63, size=channels, dtype=np.uint64) | np.uint64(1)
    flat = values.reshape(n, height * width, channels)
    cells = _cell_hashes(flat, channel_words) * pixel_words  # (N, pixels)
    keys = cells.sum(axis=1, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    corner_cells = _cell_hashes(corners.astype(np.float32), channel_words)
    first, stop = (0, n) if sources is None else (sources.start, sources.stop)
    landing = np.full((stop - first, len(corners), height * width), -1, np.int32)
    for k, corner in enumerate(corners.astype(np.float32)):
        for start in range(first, stop, chunk):
            end = min(start + chunk, stop)
            changed = keys[start:end, None] - cells[start:end] + corner_cells[k] * pixel_words
            pos = np.searchsorted(sorted_keys, changed).clip(max=n - 1)
            for source, pixel in zip(*np.nonzero(sorted_keys[pos] == changed), strict=True):
                source += start
                if (flat[source, pixel] == corner).all():
                    continue  # no change: the pixel is this corner already
                expected = flat[source].copy()
                expected[pixel] = corner
                candidate = pos[source - start, pixel]
                while candidate < n and sorted_keys[candidate] == changed[source - start, pixel]:
                    if np.array_equal(flat[order[candidate]], expected):
                        landing[source - first, k, pixel] = order[candidate]
                        break
                    candidate += 1
    return landing.reshape(stop - first, len(corners), height, width)
