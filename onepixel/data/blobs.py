"""A small disk over its centre (x, y); class 1 iff the centre lies left of a line through the image centre.

A location task: the boundary is the line through the image centre at
``line_angle`` degrees from horizontal (60° by default, so it crosses pixel
rows and columns obliquely). With the unit normal n = (sin a, -cos a), which
points to its right, the signed distance of a centre p (px from the image
centre, y up) to the line is -n . p: positive on the left, class 1.
"""

from __future__ import annotations

import numpy as np

from onepixel.data.scenario import Parameter, Scenario, pixel_coordinates


class BlobPositionScenario(Scenario):
    name = "blob_position"
    parameters = (
        Parameter("centre_x", "px", "disk centre, right of the image centre"),
        Parameter("centre_y", "px", "disk centre, above the image centre"),
    )
    label_names = ("right of the line", "left of the line")
    distance_units = "px"
    default_step = 0.5

    def __init__(self, radius: float = 2.0, line_angle: float = 60.0):
        self.radius, self.line_angle = float(radius), float(line_angle)
        self.boundary = f"the line through the centre at {self.line_angle:g} degrees"

    def grid(self, size: int, step: float) -> tuple[np.ndarray, ...]:
        # Centres that keep the whole disk one pixel inside the image.
        reach = (size - 1) / 2 - self.radius - 1
        centres = np.round(np.arange(-reach, reach + 1e-9, step), 6)
        return centres, centres

    def rasterize(self, size: int, centre_x: float, centre_y: float) -> np.ndarray:
        x, y = pixel_coordinates(size)
        return ((x - centre_x) ** 2 + (y - centre_y) ** 2 <= self.radius**2 + 1e-9).astype(np.uint8)

    def label(self, centre_x, centre_y) -> np.ndarray:
        return (self.boundary_distance(centre_x, centre_y) > 0).astype(np.int8)

    def boundary_distance(self, centre_x, centre_y) -> np.ndarray:
        angle = np.deg2rad(self.line_angle)
        return -(np.sin(angle) * np.asarray(centre_x, float) - np.cos(angle) * np.asarray(centre_y, float))
