"""Per-network summaries of a toy scenario's search: adversarial flips against the boundary and the object.

The scenario counterpart of ``onepixel.study.summary`` (whose per-angle counts
are the lines'): per image its adversarial flips and signed boundary
distance; per pixel the adversarial flips over all images and over the
images nearest the boundary (Fig. 5); per distance of the flipped pixel from
the object the adversarial flips and all candidates; and the paper's
observations as numbers in the attributes (``onepixel.analysis.boundary``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from onepixel.analysis.boundary import near_boundary_share, nearest_to_boundary
from onepixel.io import annotate, read_netcdf, write_netcdf
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import search_settings

SCENARIO_SUMMARY_KIND = "scenario_search_summary"
# "Next to the boundary": the images within this quantile of |boundary distance| (ties included).
NEAR_FRACTION = 0.1
SCENARIO_SUMMARY_META = {
    "pixel_adversarial": ("images whose flip at this pixel is adversarial", "1"),
    "pixel_adversarial_near": ("images next to the boundary whose flip at this pixel is adversarial", "1"),
    "n_adversarial": ("adversarial flips of this image", "1"),
    "boundary_distance": ("signed distance of the image's generator to the decision boundary", ""),
    "near_boundary": ("image among the nearest NEAR_FRACTION of |boundary_distance| (ties included)", "1"),
    "distance_adversarial": ("adversarial flips at this distance of the flipped pixel from the object", "1"),
    "distance_candidates": ("flips at this distance of the flipped pixel from the object", "1"),
    "object_distance": ("distance of the flipped pixel from the nearest object pixel, rounded up", "px"),
}
COPIED_ATTRS = (
    "scenario",
    "size",
    "grid_step",
    "seed",
    "n_candidates",
    "n_adversarial",
    "adversarial_rate",
    "reached_full_accuracy",
    "training_accuracy",
    "search_method",
    "n_on_manifold",
)


def distance_bins(size: int) -> int:
    """The number of whole-pixel distance bins of a D x D image: 0 (on the object) to ceil(D sqrt 2)."""
    return int(np.ceil(size * np.sqrt(2))) + 1


def pixel_object_distance(images: np.ndarray) -> np.ndarray:
    """(N, D, D) distance of every pixel from its image's nearest object pixel, rounded up (0 on the object).

    An image without object pixels gives the last bin (further than any pixel can be).
    """
    # Imported here: scipy.ndimage takes ~0.18 s, and every search job imports this module.
    from scipy import ndimage

    images = np.asarray(images)
    out = np.empty(images.shape, np.int32)
    for i, image in enumerate(images):
        if not image.any():
            out[i] = distance_bins(images.shape[-1]) - 1
            continue
        out[i] = np.ceil(ndimage.distance_transform_edt(image == 0) - 1e-9).astype(np.int32)
    return out


def summarise_scenario_search(dataset: xr.Dataset, cube: xr.Dataset) -> xr.Dataset:
    """One net's counts against the boundary and the object, and its near-boundary share."""
    size = dataset.sizes["row"]
    searched = cube["image"].values
    images = dataset["images"].values[searched]
    adversarial = cube["adversarial"].values.astype(bool)
    n_adversarial = cube["n_adversarial"].values.astype(np.int64)
    distance = dataset["boundary_distance"].values[searched]
    near = nearest_to_boundary(distance, NEAR_FRACTION)
    object_distance = pixel_object_distance(images)
    # Candidates: every pixel of every searched image but those landing on another image of the set.
    candidate = ~cube["on_manifold"].values.astype(bool)
    bins = np.arange(distance_bins(size))
    summary = xr.Dataset(
        data_vars={
            "pixel_adversarial": (("row", "col"), adversarial.sum(axis=0).astype(np.int64)),
            "pixel_adversarial_near": (("row", "col"), adversarial[near].sum(axis=0).astype(np.int64)),
            "n_adversarial": ("image", n_adversarial),
            "boundary_distance": ("image", distance),
            "near_boundary": ("image", near),
            "distance_adversarial": (
                "object_distance",
                np.bincount(object_distance[adversarial], minlength=len(bins)),
            ),
            "distance_candidates": (
                "object_distance",
                np.bincount(object_distance[candidate], minlength=len(bins)),
            ),
        },
        coords={"row": np.arange(size), "col": np.arange(size), "image": searched, "object_distance": bins},
    )
    annotate(summary, SCENARIO_SUMMARY_META)
    summary["boundary_distance"].attrs["units"] = dataset["boundary_distance"].attrs.get("units", "")
    for key in ("variant", "role", *COPIED_ATTRS):
        if key in cube.attrs:
            summary.attrs[key] = cube.attrs[key]
    summary.attrs.update(
        n_images=int(len(searched)),
        n_near_images=int(near.sum()),
        near_fraction=NEAR_FRACTION,
        near_share=near_boundary_share(distance, n_adversarial, NEAR_FRACTION),
    )
    return summary


def write_scenario_summary(dataset: xr.Dataset, cube: xr.Dataset, size: int, config: dict, out_path) -> None:
    """One net's scenario summary, with the provenance of its search, written to ``out_path``."""
    summary = summarise_scenario_search(dataset, cube)
    summary.attrs.update(provenance_attrs(config, search_settings(config, size)))
    write_netcdf(summary, out_path, SCENARIO_SUMMARY_KIND)


def read_scenario_summary(path) -> xr.Dataset:
    return read_netcdf(
        path, SCENARIO_SUMMARY_KIND, ("pixel_adversarial", "n_adversarial", "distance_adversarial")
    )
