"""One function per workflow stage; the Snakemake scripts only call these."""

from __future__ import annotations

import csv
import io
import logging
import time

import jax
import numpy as np

from onepixel.checkpoint import load_params, load_summary, save_params
from onepixel.dataset import build_dataset, read_dataset, selected_images, write_dataset
from onepixel.io import ResultFileError, write_json, write_text
from onepixel.model import Architecture, init_params, param_count
from onepixel.provenance import git_commit, package_versions
from onepixel.search import flip_margins, search_dataset, write_search
from onepixel.train import train

log = logging.getLogger("onepixel")


def check_dataset_matches(ds, size: int, step: float, path) -> None:
    if ds.attrs.get("size") != size or not np.isclose(ds.attrs.get("angle_step", np.nan), step):
        raise ResultFileError(
            f"{path}: holds D={ds.attrs.get('size')}, step={ds.attrs.get('angle_step')}, "
            f"expected D={size}, step={step}; delete it and rebuild it"
        )


def make_dataset(size: int, step: float, config: dict, out_path) -> None:
    started = time.perf_counter()
    ds = build_dataset(size, step, config)
    write_dataset(ds, out_path)
    log.info(
        "D=%d step=%s: %d unique images (%d ambiguous) from %d (length, angle) pairs in %.1f s",
        size,
        step,
        ds.attrs["n_images"],
        ds.attrs["n_ambiguous"],
        ds.attrs["n_generators_total"],
        time.perf_counter() - started,
    )


def train_model(
    dataset_path,
    size: int,
    step: float,
    seed: int,
    config: dict,
    params_path,
    history_path,
    summary_path,
) -> None:
    ds = read_dataset(dataset_path)
    check_dataset_matches(ds, size, step, dataset_path)
    arch = Architecture.from_config(size, config["model"])
    arch.validate()
    chosen = selected_images(ds, config["dataset"]["exclude_ambiguous"])
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    log.info(
        "training D=%d step=%s seed=%d on %d images (%d positive), %d parameters",
        size,
        step,
        seed,
        len(images),
        int(labels.sum()),
        param_count(init_params(arch, jax.random.key(0))),
    )
    started = time.perf_counter()
    result = train(images, labels, arch, config["training"], seed)
    seconds = time.perf_counter() - started

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(result.history[0]))
    writer.writeheader()
    writer.writerows(result.history)
    save_params(result.params, params_path)
    write_text(history_path, buffer.getvalue())
    write_json(
        summary_path,
        {
            "onepixel_kind": "training_summary",
            "size": size,
            "angle_step": step,
            "seed": seed,
            "architecture": arch.to_dict(),
            "n_images": len(images),
            "epochs": result.epochs,
            "max_epochs": config["training"]["max_epochs"],
            "final_accuracy": result.final_accuracy,
            "final_errors": result.history[-1]["n_errors"],
            "reached_full_accuracy": result.reached_full_accuracy,
            "train_seconds": seconds,
            "config": config,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "device": str(jax.devices()[0]),
        },
    )
    status = "reached accuracy 1.0" if result.reached_full_accuracy else "DID NOT reach accuracy 1.0"
    log.info("seed %d %s after %d epochs in %.1f s", seed, status, result.epochs, seconds)


def load_model(summary_path, params_path, size: int, config: dict):
    """Load a checkpoint, refusing one trained with another architecture."""
    summary = load_summary(summary_path)
    arch = Architecture.from_config(size, config["model"])
    if summary.get("architecture") != arch.to_dict():
        raise ResultFileError(
            f"{summary_path}: checkpoint architecture {summary.get('architecture')} differs "
            f"from the configured {arch.to_dict()}; rebuild it with `snakemake -R train_model` "
            "or set the model keys it was trained with"
        )
    return arch, load_params(params_path, arch), summary


def run_search(
    dataset_path,
    params_path,
    summary_path,
    size: int,
    step: float,
    seed: int,
    config: dict,
    out_path,
) -> None:
    ds = read_dataset(dataset_path)
    check_dataset_matches(ds, size, step, dataset_path)
    arch, params, summary = load_model(summary_path, params_path, size, config)
    if not summary["reached_full_accuracy"]:
        log.warning(
            "network D=%d step=%s seed=%d stopped at training accuracy %.5f < 1.0; "
            "its search counts are flagged in every table",
            size,
            step,
            seed,
            summary["final_accuracy"],
        )
    chosen = selected_images(ds, config["dataset"]["exclude_ambiguous"])
    images = ds["images"].values[chosen]
    log.info(
        "searching %d images x %d pixels = %d candidates (method %s)",
        len(images),
        size * size,
        len(images) * size * size,
        config["search"]["method"],
    )
    margins, base, info = flip_margins(arch, params, images, config["search"])
    seconds = info["search_seconds"]
    cube = search_dataset(
        ds,
        chosen,
        margins,
        base,
        config,
        size=size,
        angle_step=step,
        seed=seed,
        **info,
        reached_full_accuracy=int(summary["reached_full_accuracy"]),
        training_accuracy=summary["final_accuracy"],
    )
    write_search(cube, out_path)
    log.info(
        "%d adversarial of %d candidates (rate %.3e) in %.1f s",
        cube.attrs["n_adversarial"],
        cube.attrs["n_candidates"],
        cube.attrs["adversarial_rate"],
        seconds,
    )


def confirm_adversarial_flips(
    dataset_path, search_path, params_path, summary_path, size: int, config: dict, n_flips: int = 2
) -> tuple:
    """Pick an image with adversarial flips and re-classify them by a plain forward pass."""
    from onepixel.search import read_search
    from onepixel.train import make_margin_fn

    ds = read_dataset(dataset_path)
    cube = read_search(search_path)
    arch, params, _ = load_model(summary_path, params_path, size, config)
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
