"""The training stage: one net of a variant (its network, a distillation teacher or an adversarial round)."""

from __future__ import annotations

import csv
import functools
import io
import logging
import time
from pathlib import Path

import jax

from onepixel.io import write_json, write_text
from onepixel.models.architecture import Architecture
from onepixel.models.cnn import init_params, param_count
from onepixel.models.inference import make_class_fn, predicted_classes
from onepixel.study.inputs import (
    load_model,
    net_identity,
    net_training_settings,
    open_dataset,
    open_search,
)
from onepixel.study.provenance import cpu_info, git_commit, package_versions, provenance_attrs
from onepixel.study.variants import config_variant, training_kind
from onepixel.training import defences
from onepixel.training.checkpoint import save_params
from onepixel.training.train import TrainingResult, train

log = logging.getLogger("onepixel")


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


def copy_twin_net(
    twin,
    twin_config: dict,
    size: int,
    step: float,
    seed: int,
    config: dict,
    params_path,
    history_path,
    summary_path,
    role: str = "round0",
) -> None:
    """Round 0 of an adversarial variant from the study's net that is the same training.

    ``twin``: the (summary, params, history) paths of the net of ``twin_config``
    (``onepixel.study.settings.round_zero_twin``), read and checked as that
    net's; written again as ``role`` of ``config``'s variant with the same
    weights, history and training record (its ``train_seconds`` included: the
    cost of the round).
    """
    twin_summary, twin_params, twin_history = twin
    settings = net_training_settings(config, size, role)
    if net_training_settings(twin_config, size, role) != settings:
        raise ValueError(
            f"{twin_summary}: variant {config_variant(twin_config)}'s training differs from "
            f"{config_variant(config)}'s {role}; train the round instead"
        )
    _, params, summary = load_model(twin_summary, twin_params, size, step, seed, twin_config)
    identity = net_identity(size, step, seed, config, role)
    save_params(params, params_path, provenance_attrs(config, settings, **identity))
    write_text(history_path, Path(twin_history).read_text())
    summary.update(
        onepixel_settings=settings,
        **identity,
        training_kind=training_kind(config),
        config=config,
        same_net_as=str(twin_summary),
        versions=package_versions(),
        git_commit=git_commit(),
        cpu=cpu_info(),
    )
    write_json(summary_path, summary)
    log.info(
        "%s seed %d: the net of variant %s (the same training), %d epochs, taken from %s",
        role,
        seed,
        config_variant(twin_config),
        summary["epochs"],
        twin_params,
    )


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
