"""Checkpoints: flax.serialization msgpack (no pickle) with provenance inside, plus a JSON summary.

``load_network`` reads a study's trained network back (the public API).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
from flax import serialization

from onepixel.io import (
    FORMAT_ATTR,
    FORMAT_VERSION,
    KIND_ATTR,
    ResultFileError,
    check_identity,
    rebuild_hint,
    write_bytes,
)
from onepixel.models.cnn import CNN, Architecture, init_params

CHECKPOINT_KIND = "checkpoint"
SUMMARY_KIND = "training_summary"
# Keys every training summary holds; the tables and the search read them.
SUMMARY_KEYS = (
    "size",
    "seed",
    "architecture",
    "n_images",
    "epochs",
    "max_epochs",
    "final_accuracy",
    "final_errors",
    "reached_full_accuracy",
    "train_seconds",
    "onepixel_settings",
)


def save_params(params, path, meta: dict | None = None) -> None:
    """Parameters and their provenance (D, step, seed, settings, ...) in one msgpack file.

    ``meta`` values are strings or numbers (msgpack's own types).
    """
    payload = {
        "onepixel": {KIND_ATTR: CHECKPOINT_KIND, FORMAT_ATTR: FORMAT_VERSION, **(meta or {})},
        "params": serialization.to_state_dict(jax.device_get(params)),
    }
    write_bytes(path, serialization.msgpack_serialize(payload))


def load_summary(path) -> dict:
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{path}: unreadable training summary ({error}); {rebuild_hint(path)}"
        ) from None
    if not isinstance(summary, dict) or summary.get(KIND_ATTR) != SUMMARY_KIND:
        raise ResultFileError(f"{path}: not an onepixel training summary; {rebuild_hint(path)}")
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if "angle_step" not in summary and "grid_step" not in summary:
        missing.append("angle_step")  # a line net's; another scenario's records its grid_step
    if missing:
        raise ResultFileError(f"{path}: training summary lacks keys {missing}; {rebuild_hint(path)}")
    return summary


def read_checkpoint(path) -> tuple[dict, dict]:
    """(metadata, parameter state dict) of a checkpoint file, checked to be ours."""
    path = Path(path)
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack raises several unrelated types
        raise ResultFileError(f"{path}: not a readable checkpoint ({error}); {rebuild_hint(path)}") from None
    meta = payload.get("onepixel") if isinstance(payload, dict) else None
    if not isinstance(meta, dict) or meta.get(KIND_ATTR) != CHECKPOINT_KIND or "params" not in payload:
        raise ResultFileError(
            f"{path}: not an onepixel checkpoint (no provenance inside; made by another tool or an "
            f"older onepixel); {rebuild_hint(path)}"
        )
    if meta.get(FORMAT_ATTR) != FORMAT_VERSION:
        raise ResultFileError(
            f"{path}: checkpoint format {meta.get(FORMAT_ATTR)!r}, this onepixel reads "
            f"{FORMAT_VERSION}; {rebuild_hint(path)}"
        )
    return meta, payload["params"]


def restore_params(state: dict, arch: Architecture, path):
    """Parameters from a state dict of ``read_checkpoint``, every array checked against ``arch``."""
    template = jax.eval_shape(lambda: init_params(arch, jax.random.key(0)))
    expected = {
        "/".join(str(getattr(k, "key", k)) for k in key_path): leaf.shape
        for key_path, leaf in jax.tree_util.tree_leaves_with_path(template)
    }
    found = {
        "/".join(str(getattr(k, "key", k)) for k in key_path): np.shape(leaf)
        for key_path, leaf in jax.tree_util.tree_leaves_with_path(state)
    }
    if expected != found:
        differing = sorted(set(expected.items()) ^ set(found.items()))[:4]
        raise ResultFileError(
            f"{path}: checkpoint does not match the configured architecture {arch.to_dict()} "
            f"(differing parameters: {differing}); it was trained with another model config or D: "
            f"{rebuild_hint(path)}, or set the model keys it was trained with"
        )
    return serialization.from_state_dict(template, state)


class Network(NamedTuple):
    """A trained network of a study: ``model.apply({"params": params}, images)``."""

    model: CNN
    params: dict
    summary: dict


def load_network(model_dir) -> Network:
    """The network in a study's ``results/models/<variant>/D{D}_step{step}/seed{seed}/`` folder.

    Reads ``summary.json`` (architecture, training record) and ``params.msgpack``
    and checks they belong together (same D, step and seed).
    """
    model_dir = Path(model_dir)
    summary = load_summary(model_dir / "summary.json")
    try:
        arch = Architecture(**summary["architecture"])
    except (TypeError, ValueError) as error:
        raise ResultFileError(f"{model_dir / 'summary.json'}: bad architecture ({error})") from None
    meta, state = read_checkpoint(model_dir / "params.msgpack")
    keys = ("variant", "scenario", "size", "angle_step", "grid_step", "seed", "role")
    identity = {key: summary[key] for key in keys if key in summary}
    check_identity(model_dir / "params.msgpack", "checkpoint", meta, identity)
    return Network(CNN(arch), restore_params(state, arch, model_dir / "params.msgpack"), summary)
