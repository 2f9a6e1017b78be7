"""Per-network search summaries: counts per image, per pixel and per generating angle of one net's cube."""

from __future__ import annotations

import numpy as np
import xarray as xr

from onepixel.io import annotate, read_netcdf, write_netcdf
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import search_settings

SUMMARY_KIND = "search_summary"
SUMMARY_META = {
    "pixel_adversarial": ("images whose flip at this pixel is adversarial", "1"),
    "n_adversarial": ("adversarial flips of this image", "1"),
    "angle_adversarial": ("Adv_cnt: adversarial flips of the images generated at this angle", "1"),
    "angle_images": ("n_alpha: unique searched images generated at this angle", "1"),
    "angle_likelihood": ("Adv_cnt / (n_alpha D^2)", "1"),
    "angle": ("line angle", "degree"),
    "image_angle": ("representative angle of the image", "degree"),
}
# The cube's attributes a summary carries: the net's identity and its counts.
COPIED_ATTRS = (
    "size",
    "angle_step",
    "seed",
    "n_candidates",
    "n_adversarial",
    "adversarial_rate",
    "reached_full_accuracy",
    "training_accuracy",
    "search_method",
    "n_base_errors",
    "n_on_manifold",
    "n_on_manifold_misclassified",
)


def summarise_search(dataset: xr.Dataset, cube: xr.Dataset) -> xr.Dataset:
    """Counts per image, per pixel and per generating angle of one network."""
    size = dataset.sizes["row"]
    searched = np.zeros(dataset.sizes["image"], bool)
    searched[cube["image"].values] = True
    n_adv_all = np.zeros(dataset.sizes["image"], np.int64)
    n_adv_all[cube["image"].values] = cube["n_adversarial"].values

    # Per angle: the unique searched images that angle generates (over all lengths).
    generator = dataset["generator_image"].values  # (length, angle)
    n_angle = generator.shape[1]
    images_at_angle = np.zeros(n_angle, np.int64)
    adv_at_angle = np.zeros(n_angle, np.int64)
    for ai in range(n_angle):
        unique = np.unique(generator[:, ai])
        unique = unique[searched[unique]]
        images_at_angle[ai] = unique.size
        adv_at_angle[ai] = n_adv_all[unique].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        likelihood = adv_at_angle / (images_at_angle * size * size)

    summary = xr.Dataset(
        data_vars={
            "pixel_adversarial": (("row", "col"), cube["adversarial"].values.sum(axis=0).astype(np.int64)),
            "n_adversarial": ("image", cube["n_adversarial"].values.astype(np.int64)),
            "angle_adversarial": ("angle", adv_at_angle),
            "angle_images": ("angle", images_at_angle),
            "angle_likelihood": ("angle", likelihood),
        },
        coords={
            "row": cube["row"].values,
            "col": cube["col"].values,
            "image": cube["image"].values,
            "angle": dataset["angle"].values,
            "image_angle": ("image", cube["angle"].values),
        },
    )
    annotate(summary, SUMMARY_META)
    for key in ("variant", "role"):  # the net's identity (cubes of the workflow have it)
        if key in cube.attrs:
            summary.attrs[key] = cube.attrs[key]
    for key in COPIED_ATTRS:
        summary.attrs[key] = cube.attrs[key]
    summary.attrs["n_images"] = int(cube.sizes["image"])
    return summary


def write_summary(dataset: xr.Dataset, cube: xr.Dataset, size: int, config: dict, out_path) -> None:
    """One net's summary, with the provenance of its search (what it depends on), written to ``out_path``.

    The workflow's search job calls this with the cube still in memory
    (``onepixel.study.search_stage.run_search``).
    """
    summary = summarise_search(dataset, cube)
    summary.attrs.update(provenance_attrs(config, search_settings(config, size)))
    write_netcdf(summary, out_path, SUMMARY_KIND)


def read_summary(path) -> xr.Dataset:
    return read_netcdf(path, SUMMARY_KIND, ("pixel_adversarial", "angle_likelihood"))
