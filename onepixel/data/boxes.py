"""Filled centred axis-aligned rectangles over width and height; class 1 ("wide") iff width > height.

The boundary is the diagonal width = height of the (width, height) plane, so
a point's signed distance to it is (width - height) / sqrt(2) px, positive
on the wide side. On the boundary itself (a square) the class is 0.
"""

from __future__ import annotations

import numpy as np

from onepixel.data.scenario import Parameter, Scenario, pixel_coordinates


class BoxesScenario(Scenario):
    name = "boxes"
    parameters = (
        Parameter("width", "px", "rectangle width"),
        Parameter("height", "px", "rectangle height"),
    )
    label_names = ("tall or square", "wide")
    boundary = "width = height"
    distance_units = "px"
    default_step = 0.5

    def __init__(self, smallest: float = 2.0, margin: float = 2.0):
        self.smallest, self.margin = float(smallest), float(margin)

    def grid(self, size: int, step: float) -> tuple[np.ndarray, ...]:
        sides = np.round(np.arange(self.smallest, size - self.margin + 1e-9, step), 6)
        return sides, sides

    def rasterize(self, size: int, width: float, height: float) -> np.ndarray:
        x, y = pixel_coordinates(size)
        return ((np.abs(x) <= width / 2 + 1e-9) & (np.abs(y) <= height / 2 + 1e-9)).astype(np.uint8)

    def label(self, width, height) -> np.ndarray:
        return (np.asarray(width) > np.asarray(height)).astype(np.int8)

    def boundary_distance(self, width, height) -> np.ndarray:
        return (np.asarray(width, float) - np.asarray(height, float)) / np.sqrt(2)
