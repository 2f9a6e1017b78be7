"""Filled centred ellipses over semi-axes and orientation; class 1 ("elongated") iff the axis ratio >= r0.

A round-against-elongated organ mask. With semi-axes a (along the
orientation) and b, the image is elongated iff max(a, b) >= r0 min(a, b),
i.e. a - r0 b >= 0 or b - r0 a >= 0 (r0 > 1: never both). The boundary is
the two lines a = r0 b and b = r0 a of the (a, b) plane; the orientation
does not enter, so a point's distance to the boundary is its Euclidean
distance to the nearer line, in px: max(a - r0 b, b - r0 a) / sqrt(1 + r0^2),
positive on the elongated side.
"""

from __future__ import annotations

import numpy as np

from onepixel.data.scenario import Parameter, Scenario, pixel_coordinates


class EllipsesScenario(Scenario):
    name = "ellipses"
    parameters = (
        Parameter("semi_axis_a", "px", "semi-axis along the orientation"),
        Parameter("semi_axis_b", "px", "semi-axis across the orientation"),
        Parameter("orientation", "degree", "orientation of axis a, counter-clockwise from horizontal"),
    )
    label_names = ("round", "elongated")
    distance_units = "px"
    default_step = 0.5

    def __init__(self, ratio: float = 1.5, orientation_step: float = 15.0, smallest: float = 1.5):
        if not ratio > 1:
            raise ValueError(f"ellipses: ratio={ratio!r}; use an axis ratio > 1")
        self.ratio, self.orientation_step, self.smallest = (
            float(ratio),
            float(orientation_step),
            float(smallest),
        )
        self.boundary = f"axis ratio = {self.ratio:g}"

    def grid(self, size: int, step: float) -> tuple[np.ndarray, ...]:
        # Semi-axes from `smallest` to D/2 - 1 px, so every ellipse fits with a margin.
        axis = np.round(np.arange(self.smallest, size / 2 - 1 + 1e-9, step), 6)
        orientations = np.round(np.arange(0.0, 180.0 - 1e-9, self.orientation_step), 6)
        return axis, axis, orientations

    def rasterize(self, size: int, a: float, b: float, orientation: float) -> np.ndarray:
        x, y = pixel_coordinates(size)
        theta = np.deg2rad(orientation)
        u = x * np.cos(theta) + y * np.sin(theta)
        v = -x * np.sin(theta) + y * np.cos(theta)
        return ((u / a) ** 2 + (v / b) ** 2 <= 1 + 1e-9).astype(np.uint8)

    def label(self, a, b, orientation) -> np.ndarray:
        return (self.boundary_distance(a, b, orientation) >= 0).astype(np.int8)

    def boundary_distance(self, a, b, orientation) -> np.ndarray:
        a, b = np.asarray(a, float), np.asarray(b, float)
        along, across = a - self.ratio * b, b - self.ratio * a
        return np.maximum(along, across) / np.sqrt(1 + self.ratio**2) + 0 * np.asarray(orientation)
