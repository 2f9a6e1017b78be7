"""The dataset stage: the unique line images of one (D, step), with the provenance its readers check."""

from __future__ import annotations

import logging
import time

from onepixel.data.lines import build_dataset, write_dataset
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import dataset_settings

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
