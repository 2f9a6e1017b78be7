"""Attacks scored against the exhaustive ground truth: which images to attack, and what an attack found."""

from __future__ import annotations

import numpy as np

# Bins of an image's number of vulnerable pixels (adversarial flips in the cube).
VULNERABILITY_BINS = ((1, 2), (3, 10), (11, None))


def bin_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high is not None else f">{low - 1}"


def vulnerability_bin(counts: np.ndarray) -> np.ndarray:
    """Index into VULNERABILITY_BINS per image (-1: invulnerable)."""
    counts = np.asarray(counts)
    out = np.full(counts.shape, -1)
    for k, (low, high) in enumerate(VULNERABILITY_BINS):
        out[(counts >= low) & (counts <= (np.inf if high is None else high))] = k
    return out


def select_images(n_adversarial: np.ndarray, cap: int, n_invulnerable: int, seed: int) -> np.ndarray:
    """Cube positions to attack: up to ``cap`` vulnerable images (stratified), plus invulnerable ones.

    Each bin gets an equal share of the cap (a bin with fewer images gives its
    rest to the others), so the rare images with 1-2 vulnerable pixels, the
    ones an optimisation attack misses, are well represented. Sorted positions.
    """
    if cap < 0 or n_invulnerable < 0:
        raise ValueError(f"select_images: cap={cap}, n_invulnerable={n_invulnerable}; use whole numbers >= 0")
    rng = np.random.default_rng(seed)
    bins = vulnerability_bin(n_adversarial)
    members = [rng.permutation(np.flatnonzero(bins == k)) for k in range(len(VULNERABILITY_BINS))]
    chosen: list[np.ndarray] = [np.array([], int)] * len(members)
    left = cap
    open_bins = [k for k, m in enumerate(members) if m.size]
    while left > 0 and open_bins:
        share = max(left // len(open_bins), 1)
        for k in list(open_bins):
            taken = chosen[k].size
            extra = members[k][taken : taken + min(share, left)]
            chosen[k] = np.concatenate([chosen[k], extra])
            left -= extra.size
            if chosen[k].size == members[k].size:
                open_bins.remove(k)
            if left == 0:
                break
    invulnerable = rng.permutation(np.flatnonzero(bins == -1))[:n_invulnerable]
    return np.sort(np.concatenate([*chosen, invulnerable]).astype(int))


def found_adversarial(found, rows, cols, adversarial: np.ndarray) -> np.ndarray:
    """Per attacked image: the attack's flip is one of the cube's adversarial flips.

    A reported flip the cube does not hold as adversarial (e.g. one onto
    another valid image) does not count.
    """
    hits = np.zeros(len(found), bool)
    for i in np.flatnonzero(found):
        hits[i] = bool(adversarial[i, rows[i], cols[i]])
    return hits


def first_hit_rank(ranks: np.ndarray, adversarial: np.ndarray) -> np.ndarray:
    """1-based position of the first adversarial pixel in each image's order (0: none is adversarial)."""
    flat = adversarial.reshape(len(adversarial), -1)
    ordered = np.take_along_axis(flat, ranks, axis=1)
    any_hit = ordered.any(axis=1)
    return np.where(any_hit, np.argmax(ordered, axis=1) + 1, 0)


def recall_at(ranks_first_hit: np.ndarray, vulnerable: np.ndarray, k: int) -> float:
    """Fraction of vulnerable images whose first adversarial pixel is among the first ``k`` tried."""
    hit = (ranks_first_hit > 0) & (ranks_first_hit <= k)
    return float(hit[vulnerable].mean()) if vulnerable.any() else float("nan")
