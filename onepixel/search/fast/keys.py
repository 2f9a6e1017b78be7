"""Exact deduplication of image windows: packed-bit keys, hashed, verified on collision."""

from __future__ import annotations

import numpy as np


class PackedImages:
    """Binary images, each row packed in 64-bit words: exact window keys in a few shifts.

    Stored word-major, (words, rows, images), so a window's keys are read as
    contiguous runs over the images.
    """

    def __init__(self, images: np.ndarray):
        n, rows, cols = images.shape
        self.n_words = -(-cols // 64)
        bits = np.zeros((n, rows, self.n_words * 64), bool)
        bits[..., :cols] = images > 0.5
        words = np.packbits(bits, axis=-1, bitorder="little").view("<u8")
        self.words = np.ascontiguousarray(words.transpose(2, 1, 0))

    def window_keys(self, images: np.ndarray | None, row: int, col: int, height: int, width: int):
        """(n, height * ceil(width / 64)) uint64: the window's bits, row by row."""
        rows = self.words[:, row : row + height]
        if images is not None:
            rows = rows[..., images]
        parts = []
        for start in range(col, col + width, 64):
            bits = min(64, col + width - start)
            word, shift = divmod(start, 64)
            part = rows[word] >> np.uint64(shift)
            if shift and word + 1 < self.n_words:
                part = part | (rows[word + 1] << np.uint64(64 - shift))
            if bits < 64:
                part = part & np.uint64((1 << bits) - 1)
            parts.append(part)
        return (np.concatenate(parts) if len(parts) > 1 else parts[0]).T


class ValueImages:
    """Grey or colour images as exact window keys: each value's float32 bits (-0.0 as 0.0)."""

    def __init__(self, images: np.ndarray):
        self.bits = np.ascontiguousarray((np.asarray(images, np.float32) + np.float32(0)).view(np.uint32))

    def window_keys(self, images: np.ndarray | None, row: int, col: int, height: int, width: int):
        """(n, height * width * C) uint64: the window's values, row by row."""
        rows = self.bits if images is None else self.bits[images]
        window = rows[:, row : row + height, col : col + width]
        return window.reshape(len(window), -1).astype(np.uint64)


_HASH_MULTIPLIERS = np.random.default_rng(20261121).integers(1, 2**63, 4096, dtype=np.uint64) | np.uint64(1)


def unique_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First occurrence and inverse index of each distinct row of uint64 ``keys``.

    Rows are hashed to one uint64 for the sort, then the grouping is checked
    exactly; on a hash collision (never seen) whole rows are sorted instead.
    """
    flat = keys[:, 0].copy()
    for column in range(1, keys.shape[1]):
        flat += keys[:, column] * _HASH_MULTIPLIERS[column % len(_HASH_MULTIPLIERS)]
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    if keys.shape[1] > 1 and not np.array_equal(keys[first[inverse]], keys):
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1).astype(np.int32)
