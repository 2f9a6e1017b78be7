"""The study's toy scenarios: which ones a config runs, their grids, and the scenario level of a result path.

``dataset.scenario`` names one scenario of ``onepixel.scenarios`` or a list
of them (default ``lines``). The lines are the paper's study: their paths
and files are those of a study without scenarios, so the default study's
results stay where they are. Every other scenario is a level of its result
paths, above the variant: ``results/models/<scenario>/<variant>/D<D>_step<step>/...``
and ``results/datasets/<scenario>/D<D>_step<step>.nc``. A *net key* names
both levels: ``paper`` (the lines) or ``ellipses/paper``. Its step is the
scenario's grid step in its parameters' units (``dataset.grids``); the lines
keep ``angle_steps``.
"""

from __future__ import annotations

import re

import numpy as np

from onepixel.data.scenario import Scenario
from onepixel.data.scenarios import scenarios as REGISTRY

LINES = "lines"


def scenario_names(config: dict) -> list[str]:
    """The scenarios a (validated) study config runs, in its order."""
    chosen = config["dataset"].get("scenario", LINES)
    return [chosen] if isinstance(chosen, str) else list(chosen)


def scenario_of(config: dict) -> str:
    """The scenario of a net config (one name); a study config of several has none."""
    names = scenario_names(config)
    if len(names) != 1:
        raise ValueError(f"a study config of scenarios {names} has no single scenario; use its net configs")
    return names[0]


def grid_steps(config: dict, scenario: str) -> list[float]:
    """A scenario's grid steps: ``angle_steps`` for the lines, else ``dataset.grids.<scenario>.steps``."""
    if scenario == LINES:
        return [float(s) for s in config["angle_steps"]]
    return [float(s) for s in config["dataset"]["grids"][scenario]["steps"]]


def scenario_options(config: dict, scenario: str) -> dict:
    """The generator options of a non-line scenario (its ``dataset.grids`` entry without ``steps``)."""
    entry = config["dataset"]["grids"].get(scenario, {})
    return {key: entry[key] for key in sorted(entry) if key != "steps"}


def make_scenario(config: dict, scenario: str) -> Scenario:
    """The scenario's generator with the config's options (``TypeError``/``ValueError`` on bad ones)."""
    return type(REGISTRY[scenario])(**scenario_options(config, scenario))


def step_key(scenario: str) -> str:
    """The name of a result file's step attribute: the lines' angle step, the others' grid step."""
    return "angle_step" if scenario == LINES else "grid_step"


def file_identity(scenario: str, size: int, step: float) -> dict:
    """What a dataset file records about whose it is (the lines' files carry no scenario)."""
    identity = {} if scenario == LINES else {"scenario": scenario}
    return {**identity, "size": size, step_key(scenario): step}


def net_key(scenario: str, variant: str) -> str:
    """The path level(s) of a scenario's variant: ``paper`` for the lines, ``ellipses/paper`` else."""
    return variant if scenario == LINES else f"{scenario}/{variant}"


def split_net_key(key: str) -> tuple[str, str]:
    """(scenario, variant) of a net key."""
    scenario, _, variant = key.rpartition("/")
    return scenario or LINES, variant


def dataset_path(scenario: str, size, step) -> str:
    """The dataset file of (scenario, D, step)."""
    folder = "results/datasets" if scenario == LINES else f"results/datasets/{scenario}"
    return f"{folder}/D{size}_step{step}.nc"


def image_boundary_distance(ds, config: dict) -> np.ndarray:
    """Each image's signed distance to the decision boundary under a config of one scenario.

    Another scenario's dataset holds it; the lines' (whose files predate the
    scenarios) is their representative angle's, in degrees.
    """
    if scenario_of(config) != LINES:
        return ds["boundary_distance"].values
    lines = REGISTRY[LINES].__class__(positive_range=tuple(config["dataset"]["positive_range_deg"]))
    return lines.boundary_distance(ds["rep_length"].values, ds["rep_angle"].values)


def single_scenario_config(config: dict, scenario: str) -> dict:
    """The study config narrowed to one of its scenarios (what that scenario's datasets are built from)."""
    return {**config, "dataset": {**config["dataset"], "scenario": scenario}}


def parse_scenario_path(path) -> tuple:
    """(scenario, D, step) of a dataset path; (scenario, variant, D, step, seed) of a net's result path."""
    text = str(path).replace("\\", "/")
    others = "|".join(sorted(set(REGISTRY) - {LINES}))
    dataset = re.search(rf"datasets/(?:({others})/)?D(\d+)_step(\d+\.\d+)\.nc$", text)
    if dataset:
        scenario, size, step = dataset.groups()
        return scenario or LINES, int(size), float(step)
    net = re.search(rf"/(?:({others})/)?([A-Za-z]\w*)/D(\d+)_step(\d+\.\d+)/seed(\d+)", text)
    if not net:
        raise ValueError(f"cannot read scenario, variant, D, step, seed from path {path}")
    scenario, variant, size, step, seed = net.groups()
    return scenario or LINES, variant, int(size), float(step), int(seed)
