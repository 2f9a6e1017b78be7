"""The complete sets of adversarial flips across networks: transfer, ensembles, universal pixels, predictors.

Every function takes the cubes' arrays of networks searched on the same
images (image, row, col), so each number is an exact count, not an estimate
from the flips an attack happens to find.

Ensembles. For two classes the margin of a network is z_label - z_other, a
linear function of its logits; the mean-logit ensemble's logits are the
members' mean, so its margin is exactly the mean of the members' margins, and
its decision on every candidate follows from the members' cubes without a
forward pass. The cubes' margins are those of the fast search, within its
tolerance of a plain forward pass; an ensemble margin closer to 0 than that
is flagged for a plain re-check (``ensemble_margin``'s ``unsure``).
"""

from __future__ import annotations

import numpy as np


def transfer(adversarial_a: np.ndarray, adversarial_b: np.ndarray) -> tuple[float, float, int, int, int]:
    """(share of A's adversarial flips adversarial for B, Jaccard index, |A|, |B|, |A and B|).

    The share is NaN when A has none; the Jaccard index NaN when neither has any.
    """
    a, b = np.asarray(adversarial_a, bool), np.asarray(adversarial_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"transfer: cubes of shapes {a.shape} and {b.shape}; give cubes of the same images")
    n_a, n_b = int(np.count_nonzero(a)), int(np.count_nonzero(b))
    both = int(np.count_nonzero(a & b))
    union = n_a + n_b - both
    share = both / n_a if n_a else float("nan")
    jaccard = both / union if union else float("nan")
    return share, jaccard, n_a, n_b, both


def wrong_from_margin(margin: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Misclassified from a two-class margin (label logit minus the other): < 0, or a tie where argmax
    (the lowest class) is not the label."""
    margin = np.asarray(margin)
    label = np.asarray(label).reshape((-1,) + (1,) * (margin.ndim - 1))
    return (margin < 0) | ((margin == 0) & (label == 1))


def ensemble_margin(margins: list[np.ndarray], tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The mean-logit ensemble's margin on every candidate, and where it is within ``tolerance`` of 0.

    ``margins``: the members' margins (each image, row, col); ``tolerance``:
    how far a member's stored margin may be from its plain forward pass (the
    fast search's; 0 for plain cubes). Within it of 0 the sign is ``unsure``.
    """
    total = np.zeros(np.shape(margins[0]), np.float64)
    for margin in margins:  # one member at a time: a D = 80 cube's margins are ~0.3 GB each
        total += margin
    mean = total / len(margins)
    return mean, np.abs(mean) <= tolerance


def majority_wrong(wrong: list[np.ndarray]) -> np.ndarray:
    """The majority vote's misclassification: more than half of the members are wrong (ties: not wrong)."""
    stacked = np.stack([np.asarray(w, bool) for w in wrong])
    return stacked.sum(axis=0) * 2 > stacked.shape[0]


def class_pixel_counts(
    adversarial: np.ndarray, label: np.ndarray, n_classes: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(class, row, col) images of each class whose flip at the pixel is adversarial; images per class."""
    adversarial, label = np.asarray(adversarial, bool), np.asarray(label)
    counts = np.stack([adversarial[label == c].sum(axis=0) for c in range(n_classes)]).astype(np.int64)
    return counts, np.bincount(label, minlength=n_classes).astype(np.int64)


def universal_pixels(counts: np.ndarray, images: np.ndarray, share: float) -> np.ndarray:
    """(class, row, col): the pixels whose flip is adversarial for at least ``share`` of a class's images."""
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r}; use a share of images in (0, 1]")
    images = np.asarray(images, float).reshape(-1, 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (images > 0) & (counts >= share * images)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC: the chance a positive scores higher than a negative (ties count half); NaN without both."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), float)
    sorted_scores = scores[order]
    # Average ranks over ties.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_from_counts(positive_counts: np.ndarray, negative_counts: np.ndarray) -> float:
    """ROC AUC of a score that takes a few values, from the counts of positives and negatives at each
    value (in increasing order): a higher value scores higher, ties count half."""
    pos, neg = np.asarray(positive_counts, float), np.asarray(negative_counts, float)
    if pos.sum() == 0 or neg.sum() == 0:
        return float("nan")
    below = np.cumsum(neg) - neg  # negatives at strictly lower values
    return float((pos * (below + neg / 2)).sum() / (pos.sum() * neg.sum()))
