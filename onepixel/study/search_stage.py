"""The search stage: one net's exhaustive search, its cube and summary; and Fig. 3's re-classified flips."""

from __future__ import annotations

import logging

import numpy as np

from onepixel.data.lines import selected_images
from onepixel.models.cnn import CNN
from onepixel.models.inference import make_margin_fn
from onepixel.search.api import flip_search
from onepixel.search.cube import dataset_landing, write_search
from onepixel.study.inputs import (
    load_model,
    net_identity,
    net_search_settings,
    open_dataset,
    open_search,
)
from onepixel.study.provenance import provenance_attrs
from onepixel.study.scenario_summary import write_scenario_summary
from onepixel.study.scenarios import LINES, scenario_of
from onepixel.study.summary import write_summary

log = logging.getLogger("onepixel")


def run_search(
    dataset_path,
    params_path,
    summary_path,
    size: int,
    step: float,
    seed: int,
    config: dict,
    out_path,
    role: str = "net",
    search_summary_out=None,
    twin=None,
) -> None:
    """The exhaustive search of one net, written to ``out_path`` (its flip cube).

    ``search_summary_out``: also write the net's search summary there, from
    the cube and dataset in memory (a job of its own would start a process
    and read both back: ~1.4 s per net, 75 nets in the paper's study).
    ``twin``: (cube path, net config) of the study's net that is this
    adversarial round 0 (``copy_twin_net``): its cube is this net's, read and
    checked as that net's and written again under this net's provenance.
    """
    ds = open_dataset(dataset_path, size, step, config)
    arch, params, summary = load_model(summary_path, params_path, size, step, seed, config, role)
    if not summary["reached_full_accuracy"]:
        log.warning(
            "network D=%d step=%s seed=%d stopped at training accuracy %.5f < 1.0; "
            "its search counts are flagged in every table",
            size,
            step,
            seed,
            summary["final_accuracy"],
        )
    if twin is not None:
        twin_cube, twin_config = twin
        if summary.get("same_net_as") is None:
            raise ValueError(f"{summary_path}: not a net taken from another variant; search it instead")
        cube = open_search(twin_cube, size, step, seed, twin_config)
        log.info("%s: the cube of the same net, %s", role, twin_cube)
    else:
        cube = search_dataset(CNN(arch), params, ds, config)
    seconds = cube.attrs["search_seconds"]
    cube.attrs.update(
        provenance_attrs(
            config, net_search_settings(config, size, role), **net_identity(size, step, seed, config, role)
        ),
        search_method=config["search"]["method"],
        reached_full_accuracy=int(summary["reached_full_accuracy"]),
        training_accuracy=summary["final_accuracy"],
    )
    write_search(cube, out_path)
    _log_search(cube, seconds)
    if search_summary_out is not None:
        writer = write_summary if scenario_of(config) == LINES else write_scenario_summary
        writer(ds, cube, size, config, search_summary_out)
        log.info("search summary written to %s", search_summary_out)


def search_dataset(model, params, ds, config: dict):
    """The cube of the dataset's searched images: every flip, each flip onto any of its images marked."""
    chosen = selected_images(ds, config["dataset"]["exclude_ambiguous"])
    images = ds["images"].values[chosen]
    size = images.shape[-1]
    search_cfg = config["search"]
    log.info(
        "searching %d images x %d pixels = %d candidates (method %s)",
        len(images),
        size * size,
        len(images) * size * size,
        search_cfg["method"],
    )
    return flip_search(
        model,
        params,
        images,
        ds["label"].values[chosen],
        # "fast" in the config falls back to the plain search, with a warning,
        # for a network the fast path does not cover.
        method="auto" if search_cfg["method"] == "fast" else "plain",
        recheck_below=search_cfg["recheck_below"],
        chunk_candidates=search_cfg["chunk_candidates"],
        # Valid images: every image of the dataset (ambiguous ones too).
        lands_on=dataset_landing(ds, chosen),
        image_coords=searched_image_coords(ds, chosen),
    )


def searched_image_coords(ds, chosen) -> dict:
    """The cube's per-image coordinates: lines' angle and length, else generator and boundary distance."""
    if "rep_angle" in ds and "boundary_distance" not in ds:
        return {
            "image": ds["image"].values[chosen],
            "angle": ds["rep_angle"].values[chosen],
            "length": ds["rep_length"].values[chosen],
        }
    representatives = {name: ds[name].values[chosen] for name in ds.coords if name.startswith("rep_")}
    return {
        "image": ds["image"].values[chosen],
        "boundary_distance": ds["boundary_distance"].values[chosen],
        **representatives,
    }


def _log_search(cube, seconds: float) -> None:
    log.info(
        "%d adversarial of %d candidates (rate %.3e) in %.1f s; %d flips land on another valid image "
        "(%d of them classified differently from their source image), not counted",
        cube.attrs["n_adversarial"],
        cube.attrs["n_candidates"],
        cube.attrs["adversarial_rate"],
        seconds,
        cube.attrs["n_on_manifold"],
        cube.attrs["n_on_manifold_misclassified"],
    )


def confirm_adversarial_flips(
    dataset_path,
    search_path,
    params_path,
    summary_path,
    key: tuple[int, float, int],
    config: dict,
    n_flips: int = 2,
) -> tuple:
    """Pick an image with adversarial flips and re-classify them by a plain forward pass."""
    size, step, seed = key
    ds = open_dataset(dataset_path, size, step, config)
    cube = open_search(search_path, size, step, seed, config)
    arch, params, _ = load_model(summary_path, params_path, size, step, seed, config)
    counts = cube["n_adversarial"].values
    candidates = np.flatnonzero(counts >= n_flips)
    if candidates.size == 0:
        candidates = np.flatnonzero(counts >= 1)
    if candidates.size == 0:
        log.warning("no adversarial flip in %s: Fig. 3 shows the image alone", search_path)
        pos = 0
        pixels = []
    else:
        # The image with the fewest adversarial flips that still has enough:
        # the rare, hard-to-find kind that optimisation attacks miss.
        pos = int(candidates[np.argmin(counts[candidates])])
        rows, cols = np.nonzero(cube["adversarial"].values[pos])
        pixels = list(zip(rows.tolist(), cols.tolist(), strict=False))[:n_flips]
    image = ds["images"].values[int(cube["image"].values[pos])].astype(np.float32)
    margin_fn = make_margin_fn(arch)
    margins = []
    for row, col in pixels:
        flipped = image.copy()
        flipped[row, col] = 1 - flipped[row, col]
        m = float(np.asarray(margin_fn(params, flipped[None]))[0])
        if (m > 0) == bool(cube["label"].values[pos]):
            raise RuntimeError(
                f"flip ({row}, {col}) of image {int(cube['image'].values[pos])} is stored as "
                f"adversarial but a plain forward pass classifies it correctly (margin {m}); "
                f"the search file {search_path} is stale or wrong: rebuild it"
            )
        margins.append(m)
    return cube, {"image_pos": pos, "pixels": pixels, "margins": margins, "image": image}
