"""Checkpoints: flax.serialization msgpack (no pickle) plus a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from onepixel.io import ResultFileError, write_bytes
from onepixel.model import Architecture, init_params


def save_params(params, path) -> None:
    write_bytes(path, serialization.to_bytes(jax.device_get(params)))


def load_summary(path) -> dict:
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{path}: unreadable training summary ({error}); rebuild it with `snakemake {path}`"
        ) from None
    if summary.get("onepixel_kind") != "training_summary":
        raise ResultFileError(f"{path}: not an onepixel training summary; rebuild it")
    return summary


def load_params(path, arch: Architecture):
    """Load parameters and check every array against ``arch``'s shapes."""
    path = Path(path)
    template = jax.eval_shape(lambda: init_params(arch, jax.random.key(0)))
    try:
        state = serialization.msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack raises several unrelated types
        raise ResultFileError(
            f"{path}: not a readable checkpoint ({error}); rebuild it with `snakemake {path}`"
        ) from None
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
            f"(differing parameters: {differing}); it was trained with another model "
            "config or D: rebuild it, or set the model keys it was trained with"
        )
    return serialization.from_state_dict(template, state)
