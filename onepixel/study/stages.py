"""One function per workflow stage; the Snakemake scripts only call these."""

from __future__ import annotations

import csv
import functools
import io
import logging
import time

import jax
import numpy as np

from onepixel.data.lines import build_dataset, selected_images, write_dataset
from onepixel.io import write_json, write_text
from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params, param_count
from onepixel.models.inference import make_class_fn, make_margin_fn, predicted_classes
from onepixel.search.api import flip_search
from onepixel.search.cube import dataset_landing, write_search
from onepixel.study.inputs import (
    load_model,
    net_identity,
    net_search_settings,
    net_training_settings,
    open_dataset,
    open_search,
)
from onepixel.study.provenance import cpu_info, git_commit, package_versions, provenance_attrs
from onepixel.study.settings import dataset_settings
from onepixel.study.summary import write_summary
from onepixel.study.variants import config_variant, training_kind
from onepixel.training import defences
from onepixel.training.checkpoint import save_params
from onepixel.training.train import TrainingResult, train

log = logging.getLogger("onepixel")


def study_dataset(size: int, step: float, config: dict):
    """The dataset of (D, step) under the config, with the provenance its readers check."""
    ds = build_dataset(size, step, config)
    ds.attrs.update(provenance_attrs(config, dataset_settings(config, size), size=size, angle_step=step))
    return ds


def make_dataset(size: int, step: float, config: dict, out_path) -> None:
    started = time.perf_counter()
    ds = study_dataset(size, step, config)
    write_dataset(ds, out_path)
    log.info(
        "D=%d step=%s: %d unique images (%d ambiguous) from %d (length, angle) pairs, "
        "%d one-pixel flips onto another image, in %.1f s",
        size,
        step,
        ds.attrs["n_images"],
        ds.attrs["n_ambiguous"],
        ds.attrs["n_generators_total"],
        ds.attrs["n_one_flip_pairs"],
        time.perf_counter() - started,
    )


def _training_set(ds, size, step, seed, config, role, teacher, previous):
    """What this net trains on: clean images, a teacher's soft labels or the last round's flips."""
    kind = training_kind(config)
    if role == "teacher":
        return defences.teacher_set(ds, config)
    if kind == "distillation" and role == "net":
        teacher_arch, teacher_params, _ = load_model(*teacher, size, step, seed, config, role="teacher")
        return defences.student_set(ds, config, teacher_arch, teacher_params)
    if previous is not None:
        params_path, summary_path, cube_path, previous_role = previous
        _, previous_params, _ = load_model(summary_path, params_path, size, step, seed, config, previous_role)
        cube = open_search(cube_path, size, step, seed, config, previous_role)
        return defences.round_set(ds, config, previous_params, cube, int(previous_role[len("round") :]) + 1)
    images, labels = defences.clean_images(ds, config)
    return defences.TrainingSet(images, labels, len(images))


def train_model(
    dataset_path,
    size: int,
    step: float,
    seed: int,
    config: dict,
    params_path,
    history_path,
    summary_path,
    role: str = "net",
    teacher=None,
    previous=None,
) -> None:
    """Train one net of a variant (``config`` is its net config, ``onepixel.study.variants.variant_config``).

    ``role``: ``net``, ``teacher`` or ``round<r>``; ``teacher``: the (summary,
    params) paths of a distillation student's teacher; ``previous``: the
    (params, summary, cube, role) of the adversarial-training round before.
    """
    ds = open_dataset(dataset_path, size, step, config)
    arch = Architecture.from_config(size, config["model"])  # checked on construction
    data = _training_set(ds, size, step, seed, config, role, teacher, previous)
    log.info(
        "training D=%d step=%s seed=%d (variant %s, %s) on %d images (%d clean, %d positive), %d parameters",
        size,
        step,
        seed,
        config_variant(config),
        role,
        len(data.images),
        data.n_clean,
        int(data.labels.sum()),
        # Shapes only: an eager init runs op by op (0.2 s a job).
        param_count(jax.eval_shape(functools.partial(init_params, arch), jax.random.key(0))),
    )
    started = time.perf_counter()
    result = _train_on(data, arch, config["training"], seed)
    seconds = time.perf_counter() - started
    clean_errors = _clean_errors(arch, data, result)
    settings = net_training_settings(config, size, role)
    identity = net_identity(size, step, seed, config, role)
    save_params(result.params, params_path, provenance_attrs(config, settings, **identity))
    write_text(history_path, _history_csv(result.history))
    summary = {
        "onepixel_kind": "training_summary",
        "onepixel_settings": settings,
        **identity,
        "training_kind": training_kind(config),
        "architecture": arch.to_dict(),
        **_training_record(data, result, clean_errors, config["training"]["max_epochs"]),
        "train_seconds": seconds,
        "config": config,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "cpu": cpu_info(),
        "device": str(jax.devices()[0]),
    }
    write_json(summary_path, summary)
    status = "reached accuracy 1.0" if clean_errors == 0 else "DID NOT reach accuracy 1.0"
    log.info("%s seed %d %s after %d epochs in %.1f s", role, seed, status, result.epochs, seconds)


def _train_on(data, arch, training_cfg: dict, seed: int) -> TrainingResult:
    """Train on a training set; a round after a search that found no flip keeps its start weights."""
    if data.stopped:
        return TrainingResult(params=data.start_params)
    return train(
        data.images,
        data.labels,
        arch,
        training_cfg,
        seed,
        targets=data.targets,
        temperature=data.temperature,
        start_params=data.start_params,
    )


def _clean_errors(arch, data, result) -> int:
    """Misclassified clean images after training: the paper's condition is on them.

    The last epoch evaluated the training set; a round's set also holds flips,
    so its clean images are evaluated again.
    """
    if result.history and data.n_clean == len(data.images):
        return result.history[-1]["n_errors"]
    predicted = predicted_classes(make_class_fn(arch), result.params, data.images[: data.n_clean])
    return int((predicted != data.labels[: data.n_clean]).sum())


def _history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["epoch", "loss", "accuracy", "n_errors", "n_checked", "seconds"]
    )
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def _training_record(data, result, clean_errors: int, max_epochs: int) -> dict:
    """What the training summary says of the training itself, in its order."""
    return {
        "n_images": data.n_clean,
        "n_training_images": len(data.images),
        "epochs": result.epochs,
        "max_epochs": max_epochs,
        "final_accuracy": 1.0 - clean_errors / data.n_clean,
        "final_errors": clean_errors,
        "training_set_errors": result.history[-1]["n_errors"] if result.history else clean_errors,
        "reached_full_accuracy": clean_errors == 0,
        "stopped_no_flips_left": data.stopped,
        **data.notes,
    }


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
) -> None:
    """The exhaustive search of one net, written to ``out_path`` (its flip cube).

    ``search_summary_out``: also write the net's search summary there, from
    the cube and dataset in memory (a job of its own would start a process
    and read both back: ~1.4 s per net, 75 nets in the paper's study).
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
        write_summary(ds, cube, size, config, search_summary_out)
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
        image_coords={
            "image": ds["image"].values[chosen],
            "angle": ds["rep_angle"].values[chosen],
            "length": ds["rep_length"].values[chosen],
        },
    )


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
