"""Where the adversarial flips are, against a scenario's decision boundary and its objects.

The paper's observations, as numbers any scenario gives: adversarial flips
crowd on images next to the decision boundary (Fig. 4: the adversarial
likelihood against the boundary distance), and the flipped pixels lie on or
next to the object (Fig. 5).
"""

from __future__ import annotations

import numpy as np


def likelihood_by_distance(
    distance: np.ndarray, n_adversarial: np.ndarray, n_pixels: int, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's adversarial likelihood Adv_cnt / (n D^2) per bin of signed boundary distance.

    ``distance``, ``n_adversarial``: per image; ``n_pixels``: D^2; ``edges``:
    the bins' edges. Returns (bin centres, likelihood, images per bin); a bin
    without images has likelihood NaN.
    """
    distance, n_adversarial = np.asarray(distance, float), np.asarray(n_adversarial, float)
    which = np.digitize(distance, edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    images = np.bincount(which[inside], minlength=len(edges) - 1)
    flips = np.bincount(which[inside], weights=n_adversarial[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        likelihood = np.where(images > 0, flips / (images * n_pixels), np.nan)
    return (edges[:-1] + edges[1:]) / 2, likelihood, images


def nearest_to_boundary(distance: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """The images within the ``fraction`` quantile of |distance| (ties included: they can be more)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r}; use a share in (0, 1]")
    gap = np.abs(np.asarray(distance, float))
    return gap <= np.quantile(gap, fraction)


def near_boundary_share(distance: np.ndarray, n_adversarial: np.ndarray, fraction: float = 0.1) -> float:
    """Share of all adversarial flips on the images nearest the boundary (|distance| <= its quantile).

    The nearest images are those within the ``fraction`` quantile of |distance|.

    Images tied at that distance all count (a coarse grid puts many images
    at one distance), so they can be more than ``fraction`` of the images;
    with no adversarial flip at all the share is NaN.
    """
    nearest = nearest_to_boundary(distance, fraction)
    n_adversarial = np.asarray(n_adversarial, float)
    total = n_adversarial.sum()
    return float(n_adversarial[nearest].sum() / total) if total else float("nan")


def flip_object_distances(images: np.ndarray, adversarial: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every adversarial flipped pixel to the nearest object pixel of its image.

    ``images``: (N, H, W) binary masks (1 = object); ``adversarial``: (N, H, W)
    booleans. A flip on the object (turning an object pixel off) is at 0.
    """
    # Imported here: scipy.ndimage takes ~0.18 s, and every search job imports this module.
    from scipy import ndimage

    images, adversarial = np.asarray(images), np.asarray(adversarial, bool)
    out = []
    for image, flips in zip(images, adversarial, strict=True):
        if not flips.any():
            continue
        if not image.any():  # no object: no distance to it
            out.append(np.full(int(flips.sum()), np.inf))
            continue
        # distance_transform_edt gives each non-zero cell its distance to the nearest zero.
        out.append(ndimage.distance_transform_edt(image == 0)[flips])
    return np.concatenate(out) if out else np.zeros(0)
