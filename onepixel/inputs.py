"""A stage's inputs, read and checked: of the (D, step, seed) its path names, under the config's settings.

Each function stops with one line naming the file, what it holds, what was
expected and the command that rebuilds it (a ``ResultFileError``).
"""

from __future__ import annotations

from onepixel.checkpoint import load_summary, read_checkpoint, restore_params
from onepixel.dataset import read_dataset
from onepixel.io import ResultFileError, rebuild_hint
from onepixel.model import Architecture
from onepixel.provenance import check_identity
from onepixel.search import read_search
from onepixel.settings import dataset_settings, search_settings, training_settings


def open_dataset(path, size: int, step: float, config: dict):
    """A dataset file, refused unless it is the one of (D, step) under the config's settings."""
    ds = read_dataset(path)
    check_identity(
        path, "dataset", ds.attrs, dict(size=size, angle_step=step), dataset_settings(config, size)
    )
    return ds


def open_search(path, size: int, step: float, seed: int, config: dict):
    """A flip cube."""
    cube = read_search(path)
    expected = dict(size=size, angle_step=step, seed=seed)
    check_identity(path, "flip cube", cube.attrs, expected, search_settings(config, size))
    return cube


def open_summary(path, size: int, step: float, seed: int, config: dict):
    """A per-network search summary (NetCDF)."""
    from onepixel.analysis import read_summary  # analysis reads its inputs through this module

    summary = read_summary(path)
    expected = dict(size=size, angle_step=step, seed=seed)
    check_identity(path, "search summary", summary.attrs, expected, search_settings(config, size))
    return summary


def open_training_summary(path, size: int, step: float, seed: int, config: dict) -> dict:
    """A training summary (JSON)."""
    summary = load_summary(path)
    expected = dict(size=size, angle_step=step, seed=seed)
    check_identity(path, "training summary", summary, expected, training_settings(config, size))
    return summary


def load_model(summary_path, params_path, size: int, step: float, seed: int, config: dict):
    """Load a checkpoint and its summary, refusing any of another (D, step, seed) or settings."""
    summary = open_training_summary(summary_path, size, step, seed, config)
    arch = Architecture.from_config(size, config["model"])
    if summary["architecture"] != arch.to_dict():
        raise ResultFileError(
            f"{summary_path}: checkpoint architecture {summary['architecture']} differs "
            f"from the configured {arch.to_dict()}; {rebuild_hint(summary_path)}"
        )
    meta, state = read_checkpoint(params_path)
    expected = dict(size=size, angle_step=step, seed=seed)
    check_identity(params_path, "checkpoint", meta, expected, training_settings(config, size))
    return arch, restore_params(state, arch, params_path), summary
