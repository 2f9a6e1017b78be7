"""The dataset stage: the unique images of one (scenario, D, step), with the provenance its readers check."""

from __future__ import annotations

import logging
import time

from onepixel.data.lines import build_dataset, write_dataset
from onepixel.data.scenario import scenario_dataset, write_scenario_dataset
from onepixel.study.provenance import provenance_attrs
from onepixel.study.scenarios import LINES, file_identity, make_scenario, scenario_of
from onepixel.study.settings import dataset_settings

log = logging.getLogger("onepixel")


def study_dataset(size: int, step: float, config: dict):
    """The dataset of (D, step) under a config of one scenario, with the provenance its readers check."""
    scenario = scenario_of(config)
    if scenario == LINES:
        ds = build_dataset(size, step, config)
    else:
        ds = scenario_dataset(make_scenario(config, scenario), size, step)
    identity = file_identity(scenario, size, step)
    ds.attrs.update(provenance_attrs(config, dataset_settings(config, size), **identity))
    return ds


def make_dataset(size: int, step: float, config: dict, out_path) -> None:
    started = time.perf_counter()
    scenario = scenario_of(config)
    ds = study_dataset(size, step, config)
    (write_dataset if scenario == LINES else write_scenario_dataset)(ds, out_path)
    log.info(
        "%s D=%d step=%s: %d unique images (%d ambiguous) from %d generator points, "
        "%d one-pixel flips onto another image, in %.1f s",
        scenario,
        size,
        step,
        ds.attrs["n_images"],
        ds.attrs["n_ambiguous"],
        ds.attrs["n_generators_total"],
        ds.attrs["n_one_flip_pairs"],
        time.perf_counter() - started,
    )
