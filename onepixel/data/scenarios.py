"""The registry of toy scenarios, and ``make_dataset``: a scenario's images without the workflow."""

from __future__ import annotations

import xarray as xr

from onepixel.data.blobs import BlobPositionScenario
from onepixel.data.boxes import BoxesScenario
from onepixel.data.ellipses import EllipsesScenario
from onepixel.data.lines import LinesScenario
from onepixel.data.scenario import Scenario, scenario_dataset

scenarios: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (LinesScenario(), EllipsesScenario(), BoxesScenario(), BlobPositionScenario())
}


def register(scenario: Scenario) -> Scenario:
    """Add a scenario (an instance of a ``Scenario`` subclass) under its ``name``; returns it."""
    if not isinstance(scenario, Scenario) or not scenario.name or not scenario.parameters:
        raise ValueError("register: give an instance of a Scenario subclass with a name and parameters")
    scenarios[scenario.name] = scenario
    return scenario


def make_dataset(scenario: str | Scenario, size: int, step: float | None = None) -> xr.Dataset:
    """The unique binary masks of a scenario at image size ``size`` and grid ``step``.

    Returns an ``xarray.Dataset``: ``images`` (image, row, col), ``label``,
    ``ambiguous`` (generated from both classes), ``boundary_distance`` and the
    representative generator ``rep_<parameter>`` per image, ``generator_image``
    over the parameter grid, and the one-flip pairs between its images.
    ``scenario``: a name of ``onepixel.scenarios`` or a ``Scenario``.
    """
    if isinstance(scenario, str):
        if scenario not in scenarios:
            raise ValueError(f"scenario={scenario!r}; use one of {sorted(scenarios)} or register your own")
        scenario = scenarios[scenario]
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"size={size!r}; use a whole number >= 4")
    step = scenario.default_step if step is None else step
    if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
        raise ValueError(f"step={step!r}; use a grid step > 0 in the parameters' units")
    return scenario_dataset(scenario, size, float(step))
