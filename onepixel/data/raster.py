"""Rasterisers: (D, length, angle) -> binary D x D image of a centred line.

The paper does not say how it rasterised its lines. Two procedures are offered:

``rotate_spline`` (default)
    A horizontal segment on the centre row (row D // 2), covering the columns
    whose centres lie within +-L/2 of the image centre (D - 1) / 2, rotated by
    the angle with a cubic spline (``scipy.ndimage.rotate``, order 3, no
    reshape) and thresholded at 0.5. This is the family closest to the paper's
    Table 1 that we know of (see docs/method.md, "Dataset counts").

``segment_distance``
    Analytic: a pixel is on when its centre lies within ``half_width`` of the
    segment of length L through (D - 1) / 2. Exactly symmetric under a 180°
    rotation of the image, which ``rotate_spline`` cannot be for even D (one
    row has no mirror row).

Angles are in degrees, counter-clockwise with rows growing downwards, so 0° is
horizontal and 90° vertical.
"""

from __future__ import annotations

import numpy as np

RASTERIZERS = ("rotate_spline", "segment_distance")
THRESHOLD = 0.5
SEGMENT_HALF_WIDTH = 0.5


def horizontal_segment(size: int, length: int) -> np.ndarray:
    """Float image with a one-pixel-high horizontal segment on row size // 2."""
    centre = (size - 1) / 2
    columns = np.arange(size)
    # A tiny tolerance keeps pixel centres exactly on the end points inside.
    inside = np.abs(columns - centre) <= length / 2 + 1e-9
    image = np.zeros((size, size))
    image[size // 2, inside] = 1.0
    return image


def rotate_spline(size: int, length: int, angle_deg: float) -> np.ndarray:
    # Imported here: scipy.ndimage takes 0.17 s to import, and only dataset jobs rasterise.
    from scipy import ndimage

    rotated = ndimage.rotate(horizontal_segment(size, length), angle_deg, reshape=False, order=3)
    return rotated > THRESHOLD


def segment_distance(size: int, length: int, angle_deg: float) -> np.ndarray:
    centre = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size]
    x = cols - centre
    y = centre - rows  # y up, so positive angles turn counter-clockwise
    theta = np.deg2rad(angle_deg)
    ux, uy = np.cos(theta), np.sin(theta)
    along = np.clip(x * ux + y * uy, -length / 2, length / 2)
    distance = np.hypot(x - along * ux, y - along * uy)
    # Rounding removes float noise so mirrored pixels decide identically.
    return np.round(distance, 9) <= SEGMENT_HALF_WIDTH


def rasterize(size: int, length: int, angle_deg: float, method: str) -> np.ndarray:
    """Binary (size, size) uint8 image of a centred line."""
    if method == "rotate_spline":
        image = rotate_spline(size, length, angle_deg)
    elif method == "segment_distance":
        image = segment_distance(size, length, angle_deg)
    else:
        raise ValueError(
            f"dataset.rasterizer: unknown rasterizer {method!r}; use one of {', '.join(RASTERIZERS)}"
        )
    return image.astype(np.uint8)
