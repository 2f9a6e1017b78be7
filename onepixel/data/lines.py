"""The line manifold: the set of unique line images of one (D, angle step), labelled by angle."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from onepixel.data.flips import one_flip_pairs
from onepixel.data.raster import rasterize
from onepixel.data.scenario import Parameter, Scenario, generator_summary
from onepixel.io import annotate, read_netcdf, write_netcdf

log = logging.getLogger(__name__)

DATASET_KIND = "dataset"
DATASET_VARIABLES = (
    "images",
    "label",
    "angle",
    "length",
    "ambiguous",
    "generator_image",
    "pair_image",
    "pair_row",
    "pair_col",
    "pair_target",
)


def angle_grid(step: float) -> np.ndarray:
    """Angles k * step in [0°, 180°)."""
    count = int(np.ceil(180.0 / step - 1e-9))
    return np.round(np.arange(count) * step, 6)


def length_range(size: int, dataset_cfg: dict) -> np.ndarray:
    by_size = {int(k): v for k, v in (dataset_cfg.get("length_min_by_size") or {}).items()}
    length_min = by_size.get(size, dataset_cfg["length_min"])
    length_max = size - dataset_cfg["length_max_margin"]
    if length_min > length_max:
        raise ValueError(
            f"dataset.length_min: {length_min} exceeds D - length_max_margin = {length_max} "
            f"for D={size}; lower dataset.length_min or remove D={size} from sizes"
        )
    return np.arange(length_min, length_max + 1)


def angle_label(angle_deg: np.ndarray, positive_range: tuple[float, float]) -> np.ndarray:
    """Ground truth of the generation manifold: 1 iff low <= angle <= high."""
    low, high = positive_range
    return ((angle_deg >= low - 1e-9) & (angle_deg <= high + 1e-9)).astype(np.int8)


def _unique_images(size: int, step: float, lengths, angles, rasterizer: str):
    """The unique images of every (length, angle), and the index of each one's image (length, angle)."""
    index_of: dict[bytes, int] = {}
    images: list[np.ndarray] = []
    generator_image = np.empty((lengths.size, angles.size), dtype=np.int32)
    for li, length in enumerate(lengths):
        for ai, angle in enumerate(angles):
            image = rasterize(size, int(length), float(angle), rasterizer)
            key = image.tobytes()
            if key not in index_of:
                index_of[key] = len(images)
                images.append(image)
            generator_image[li, ai] = index_of[key]
        log.info("D=%d step=%s: length %d done, %d unique images so far", size, step, length, len(images))
    return images, generator_image


def build_dataset(size: int, step: float, config: dict) -> xr.Dataset:
    """Rasterise every (length, angle), deduplicate, label, flag ambiguity."""
    dataset_cfg = config["dataset"]
    angles = angle_grid(step)
    lengths = length_range(size, dataset_cfg)
    labels_per_angle = angle_label(angles, dataset_cfg["positive_range_deg"])

    images, generator_image = _unique_images(size, step, lengths, angles, dataset_cfg["rasterizer"])
    n_images = len(images)
    flat_image = generator_image.ravel()
    flat_angle = np.broadcast_to(angles, generator_image.shape).ravel()
    flat_length = np.broadcast_to(lengths[:, None], generator_image.shape).ravel()
    flat_label = np.broadcast_to(labels_per_angle, generator_image.shape).ravel()

    n_generators, ambiguous, representative = generator_summary(
        flat_image, flat_label, flat_length, flat_angle, n_images
    )
    stacked = np.stack(images).astype(np.uint8)
    pair_image, pair_row, pair_col, pair_target = one_flip_pairs(stacked)

    ds = xr.Dataset(
        data_vars={
            "images": (("image", "row", "col"), stacked),
            "label": ("image", flat_label[representative].astype(np.int8)),
            "ambiguous": ("image", ambiguous),
            "n_generators": ("image", n_generators.astype(np.int32)),
            "generator_image": (("length", "angle"), generator_image),
            "pair_image": ("pair", pair_image),
            "pair_row": ("pair", pair_row),
            "pair_col": ("pair", pair_col),
            "pair_target": ("pair", pair_target),
        },
        coords={
            "image": np.arange(n_images),
            "row": np.arange(size),
            "col": np.arange(size),
            "length": lengths.astype(np.int32),
            "angle": angles,
            "rep_angle": ("image", flat_angle[representative]),
            "rep_length": ("image", flat_length[representative].astype(np.int32)),
            "angle_label": ("angle", labels_per_angle),
        },
    )
    annotate_dataset(ds)
    ds.attrs.update(
        size=size,
        angle_step=step,
        n_images=n_images,
        n_one_flip_pairs=int(pair_image.size),
        n_ambiguous=int(ambiguous.sum()),
        n_generators_total=int(flat_image.size),
        rasterizer=dataset_cfg["rasterizer"],
    )
    return ds


def annotate_dataset(ds: xr.Dataset) -> None:
    meta = {
        "images": ("binary line image (1 = line pixel)", "1"),
        "label": ("class of the image: 1 iff its generating angle is in the positive range", "1"),
        "ambiguous": ("generated by (length, angle) pairs of both classes", "1"),
        "n_generators": ("number of (length, angle) pairs that produce this image", "1"),
        "generator_image": ("index of the image produced by (length, angle)", "1"),
        "image": ("unique image index", "1"),
        "row": ("pixel row (0 = top)", "px"),
        "col": ("pixel column (0 = left)", "px"),
        "length": ("line length L", "px"),
        "angle": ("line angle alpha, counter-clockwise from horizontal", "degree"),
        "rep_angle": ("representative generating angle (median of the image's generators)", "degree"),
        "rep_length": ("representative generating length", "px"),
        "angle_label": ("class of every image generated at this angle", "1"),
        "pair_image": ("image whose one-pixel flip yields another image of this dataset", "1"),
        "pair_row": ("row of that flip", "px"),
        "pair_col": ("column of that flip", "px"),
        "pair_target": ("the image of this dataset the flip yields", "1"),
    }
    annotate(ds, meta)


def write_dataset(ds: xr.Dataset, path) -> None:
    write_netcdf(ds, path, DATASET_KIND)


def read_dataset(path, lazy: bool = False) -> xr.Dataset:
    return read_netcdf(path, DATASET_KIND, DATASET_VARIABLES, lazy=lazy)


def selected_images(ds: xr.Dataset, exclude_ambiguous: bool) -> np.ndarray:
    """Indices of the images used for training and search."""
    keep = ~ds["ambiguous"].values if exclude_ambiguous else np.ones(ds.sizes["image"], bool)
    return np.flatnonzero(keep)


class LinesScenario(Scenario):
    """The paper's toy: centred lines of length L and angle alpha; class 1 iff low <= alpha <= high.

    The boundary is the pair of angles ``positive_range`` (0° and 40° in the
    paper), so an image's distance to it is the angle to the nearer of the
    two, in degrees, on the circle of line directions (period 180°).
    """

    name = "lines"
    parameters = (
        Parameter("length", "px", "line length L"),
        Parameter("angle", "degree", "line angle alpha, counter-clockwise from horizontal"),
    )
    label_names = ("outside the angle range", "angle in the positive range")
    distance_units = "degree"
    default_step = 2.0

    def __init__(
        self,
        rasterizer: str = "rotate_spline",
        length_min: int = 12,
        length_max_margin: int = 2,
        positive_range: tuple[float, float] = (0.0, 40.0),
    ):
        self.rasterizer = rasterizer
        self.dataset_cfg = {"length_min": length_min, "length_max_margin": length_max_margin}
        self.positive_range = tuple(positive_range)
        self.boundary = f"alpha = {self.positive_range[0]:g} and {self.positive_range[1]:g} degrees"

    def grid(self, size: int, step: float) -> tuple[np.ndarray, ...]:
        return length_range(size, self.dataset_cfg), angle_grid(step)

    def rasterize(self, size: int, length: float, angle: float) -> np.ndarray:
        return rasterize(size, int(length), angle, self.rasterizer)

    def label(self, length, angle) -> np.ndarray:
        return np.broadcast_to(angle_label(np.asarray(angle), self.positive_range), np.shape(length * angle))

    def boundary_distance(self, length, angle) -> np.ndarray:
        low, high = self.positive_range
        angle = np.asarray(angle, float) + 0 * np.asarray(length)

        def circular(a, b):
            gap = np.abs(a - b) % 180.0
            return np.minimum(gap, 180.0 - gap)

        nearest = np.minimum(circular(angle, low), circular(angle, high))
        return np.where(self.label(length, angle) == 1, nearest, -nearest)
