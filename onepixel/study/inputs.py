"""A stage's inputs, read and checked: of the net its path names, under the config's settings.

Each function stops with one line naming the file, what it holds, what was
expected and the command that rebuilds it (a ``ResultFileError``). ``config``
is a variant's net config (``onepixel.study.variants.variant_config``); ``role`` says
which of its nets: ``net`` (the variant's network, searched and tabled),
``teacher`` (defensive distillation) or ``round<r>`` (adversarial training).
"""

from __future__ import annotations

from onepixel.data.lines import read_dataset
from onepixel.data.scenario import read_scenario_dataset
from onepixel.io import ResultFileError, check_identity, rebuild_hint
from onepixel.models.architecture import Architecture
from onepixel.search.cube import read_search
from onepixel.study.scenarios import LINES, file_identity, scenario_of
from onepixel.study.settings import dataset_settings, round_settings, search_settings, training_settings
from onepixel.study.variants import config_variant


def net_identity(size: int, step: float, seed: int, config: dict, role: str = "net") -> dict:
    """What a net's files record about whose they are (and what their paths name).

    A net of the lines records no scenario and its angle step (as the
    paper's files always did); of another scenario, the scenario and its grid step.
    """
    identity = file_identity(scenario_of(config), size, step)
    return dict(variant=config_variant(config), **identity, seed=seed, role=role)


def net_training_settings(config: dict, size: int, role: str = "net") -> dict:
    return round_settings(config, size) if role.startswith("round") else training_settings(config, size)


def net_search_settings(config: dict, size: int, role: str = "net") -> dict:
    return {**net_training_settings(config, size, role), "search": dict(config["search"])}


def open_dataset(path, size: int, step: float, config: dict, lazy: bool = False):
    """A dataset file, refused unless it is the one of (scenario, D, step) under the config's settings.

    ``lazy``: its data read when indexed, see ``io.read_netcdf``.
    """
    scenario = scenario_of(config)
    ds = (read_dataset if scenario == LINES else read_scenario_dataset)(path, lazy=lazy)
    identity = file_identity(scenario, size, step)
    check_identity(path, "dataset", ds.attrs, identity, dataset_settings(config, size))
    return ds


def open_search(path, size: int, step: float, seed: int, config: dict, role: str = "net", lazy=False):
    """A flip cube (``lazy``: its data read when indexed, see ``io.read_netcdf``)."""
    # The lines' cubes carry each image's angle and length, another scenario's its boundary distance.
    per_image = ("angle", "length") if scenario_of(config) == LINES else ("boundary_distance",)
    cube = read_search(path, lazy=lazy, required=per_image)
    expected = net_identity(size, step, seed, config, role)
    check_identity(path, "flip cube", cube.attrs, expected, net_search_settings(config, size, role))
    return cube


def open_summary(path, size: int, step: float, seed: int, config: dict):
    """A per-network search summary (NetCDF): the lines' per angle, other scenarios' per boundary distance."""
    from onepixel.study.scenario_summary import read_scenario_summary
    from onepixel.study.summary import read_summary

    summary = (read_summary if scenario_of(config) == LINES else read_scenario_summary)(path)
    expected = net_identity(size, step, seed, config)
    check_identity(path, "search summary", summary.attrs, expected, search_settings(config, size))
    return summary


def open_training_summary(path, size: int, step: float, seed: int, config: dict, role: str = "net") -> dict:
    """A training summary (JSON)."""
    from onepixel.training.checkpoint import (
        load_summary,  # JAX and Flax: not for the jobs that only read cubes
    )

    summary = load_summary(path)
    expected = net_identity(size, step, seed, config, role)
    settings = net_training_settings(config, size, role)
    check_identity(path, "training summary", summary, expected, settings)
    return summary


def load_model(summary_path, params_path, size: int, step: float, seed: int, config: dict, role: str = "net"):
    """Load a checkpoint and its summary, refusing any of another net or settings."""
    from onepixel.training.checkpoint import read_checkpoint, restore_params

    summary = open_training_summary(summary_path, size, step, seed, config, role)
    arch = Architecture.from_config(size, config["model"])
    if summary["architecture"] != arch.to_dict():
        raise ResultFileError(
            f"{summary_path}: checkpoint architecture {summary['architecture']} differs "
            f"from the configured {arch.to_dict()}; {rebuild_hint(summary_path)}"
        )
    meta, state = read_checkpoint(params_path)
    expected = net_identity(size, step, seed, config, role)
    check_identity(params_path, "checkpoint", meta, expected, net_training_settings(config, size, role))
    return arch, restore_params(state, arch, params_path), summary
