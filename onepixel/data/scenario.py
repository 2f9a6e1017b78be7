"""A toy scenario: binary masks from a grid of generator parameters, with a decision boundary in closed form.

A scenario names its generator parameters (with units), lays their grid out
for an image size and a grid step, rasterises one parameter point to a
binary D x D mask, labels it, and gives its signed distance to the decision
boundary in the parameters' own units (> 0 on the class-1 side). The set of
unique masks, each image's generators, its ambiguity (generated from both
classes) and the one-flip pairs between its images follow from these alone
(``scenario_dataset``), as for the paper's lines.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import xarray as xr

from onepixel.data.flips import one_flip_pairs
from onepixel.io import read_netcdf, write_netcdf

# What a scenario's dataset file holds (the lines' files: onepixel.data.lines).
DATASET_KIND = "dataset"
SCENARIO_VARIABLES = (
    "images",
    "label",
    "ambiguous",
    "boundary_distance",
    "generator_image",
    "pair_image",
    "pair_row",
    "pair_col",
    "pair_target",
)


@dataclass(frozen=True)
class Parameter:
    """One generator parameter: its name (a dataset dim), units and what it is."""

    name: str
    units: str
    long_name: str


class Scenario:
    """The base of every scenario: subclasses set the class attributes and the four methods.

    ``name``: the key that selects it; ``parameters``: its generator
    parameters; ``label_names``: what classes 0 and 1 mean; ``boundary``:
    the decision boundary in words; ``distance_units``: the units of
    ``boundary_distance``; ``default_step``: the grid step of ``make_dataset``.
    """

    name = ""
    parameters: tuple[Parameter, ...] = ()
    label_names = ("class 0", "class 1")
    boundary = ""
    distance_units = ""
    default_step = 1.0

    def grid(self, size: int, step: float) -> tuple[np.ndarray, ...]:
        """The values of each parameter at image size ``size`` and grid step ``step``."""
        raise NotImplementedError

    def rasterize(self, size: int, *point: float) -> np.ndarray:
        """The binary (uint8) size x size mask of one parameter point."""
        raise NotImplementedError

    def label(self, *values: np.ndarray) -> np.ndarray:
        """Class (0 or 1, int8) of parameter points, broadcast over the arrays."""
        raise NotImplementedError

    def boundary_distance(self, *values: np.ndarray) -> np.ndarray:
        """Signed distance of parameter points to the decision boundary (> 0: class 1)."""
        raise NotImplementedError


def pixel_coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every pixel centre relative to the image centre (D - 1) / 2; y grows upwards."""
    centre = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size]
    return cols - centre, centre - rows


def generator_summary(
    flat_image: np.ndarray, flat_label: np.ndarray, first: np.ndarray, last: np.ndarray, n_images: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(generators per image, ambiguous, representative generator) from every grid point's image and label.

    An image is ambiguous when grid points of both classes draw it. Its
    representative is the median of its generators in order of the ``last``
    parameter (ties: the largest ``first``), so the stored value sits inside
    its range (the lines: the median angle, ties to the longest length).
    """
    n_generators = np.bincount(flat_image, minlength=n_images)
    n_positive = np.bincount(flat_image, weights=flat_label, minlength=n_images)
    ambiguous = (n_positive > 0) & (n_positive < n_generators)
    order = np.lexsort((-first, last, flat_image))
    starts = np.searchsorted(flat_image[order], np.arange(n_images))
    return n_generators, ambiguous, order[starts + (n_generators - 1) // 2]


def scenario_dataset(scenario: Scenario, size: int, step: float) -> xr.Dataset:
    """The unique masks of every grid point, labelled, with generators, ambiguity and one-flip pairs.

    Each image's representative generator (``generator_summary``) gives its
    boundary distance.
    """
    axes = scenario.grid(size, step)
    names = [p.name for p in scenario.parameters]
    index_of: dict[bytes, int] = {}
    images: list[np.ndarray] = []
    generator_image = np.empty([len(axis) for axis in axes], np.int32)
    for index in itertools.product(*(range(len(axis)) for axis in axes)):
        image = scenario.rasterize(size, *(float(axis[i]) for axis, i in zip(axes, index, strict=True)))
        key = image.tobytes()
        if key not in index_of:
            index_of[key] = len(images)
            images.append(image)
        generator_image[index] = index_of[key]
    n_images = len(images)
    mesh = np.meshgrid(*axes, indexing="ij")
    flat_image = generator_image.ravel()
    flat_values = [values.ravel() for values in mesh]
    flat_label = scenario.label(*mesh).astype(np.int8).ravel()
    n_generators, ambiguous, representative = generator_summary(
        flat_image, flat_label, flat_values[0], flat_values[-1], n_images
    )
    stacked = np.stack(images).astype(np.uint8)
    pair_image, pair_row, pair_col, pair_target = one_flip_pairs(stacked)
    rep_values = [values[representative] for values in flat_values]
    ds = xr.Dataset(
        data_vars={
            "images": (("image", "row", "col"), stacked),
            "label": ("image", flat_label[representative]),
            "ambiguous": ("image", ambiguous),
            "n_generators": ("image", n_generators.astype(np.int32)),
            "boundary_distance": ("image", scenario.boundary_distance(*rep_values).astype(np.float64)),
            "generator_image": (tuple(names), generator_image),
            "pair_image": ("pair", pair_image),
            "pair_row": ("pair", pair_row),
            "pair_col": ("pair", pair_col),
            "pair_target": ("pair", pair_target),
        },
        coords={
            "image": np.arange(n_images),
            "row": np.arange(size),
            "col": np.arange(size),
            **{name: axis for name, axis in zip(names, axes, strict=True)},
            **{f"rep_{name}": ("image", values) for name, values in zip(names, rep_values, strict=True)},
        },
    )
    for parameter in scenario.parameters:
        ds[parameter.name].attrs.update(long_name=parameter.long_name, units=parameter.units)
        ds[f"rep_{parameter.name}"].attrs.update(
            long_name=f"representative generating {parameter.long_name}", units=parameter.units
        )
    ds["boundary_distance"].attrs.update(
        long_name=f"signed distance of the representative generator to the boundary ({scenario.boundary})",
        units=scenario.distance_units,
    )
    ds.attrs.update(
        scenario=scenario.name,
        size=size,
        grid_step=step,
        n_images=n_images,
        n_ambiguous=int(ambiguous.sum()),
        n_one_flip_pairs=int(pair_image.size),
        n_generators_total=int(flat_image.size),
        label_names=", ".join(scenario.label_names),
    )
    return ds


def write_scenario_dataset(ds: xr.Dataset, path) -> None:
    write_netcdf(ds, path, DATASET_KIND)


def read_scenario_dataset(path, lazy: bool = False) -> xr.Dataset:
    """A scenario's dataset file, checked to hold what ``scenario_dataset`` writes."""
    return read_netcdf(path, DATASET_KIND, SCENARIO_VARIABLES, lazy=lazy)
