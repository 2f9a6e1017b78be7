"""The scenarios' tables: rates per (scenario, variant, D, step) over seeds; the paper's observations on each.

``scenarios.csv``: per (scenario, variant, D, step) the dataset's counts
(Table 1's), the nets that reached training accuracy 1.0, the adversarial
rate over seeds, the share of adversarial flips on the images next to the
boundary, and how far the flipped pixels lie from the object.
``scenario_claims.csv``: per (scenario, variant) the paper's three
observations, each as a number and whether it holds:

- ``boundary``: adversarial flips crowd on the images next to the decision
  boundary (paper, Fig. 4): the share of them on the nearest 10 % of images
  (ties included); holds when it is at least half;
- ``size``: the adversarial rate falls as D grows (paper, Fig. 4 and 6): the
  rate at the largest D over the rate at the smallest; holds when < 1;
- ``distance``: most adversarial flips lie away from the object, so they do
  not change the image's information (paper, Fig. 5): the share of them more
  than 1 px from the nearest object pixel; holds when it is more than half.
"""

from __future__ import annotations

import logging

import numpy as np

from onepixel.io import write_text
from onepixel.study.tables.csv_text import csv_or_header

log = logging.getLogger("onepixel")

SCENARIO_FIELDS = (
    "scenario",
    "variant",
    "size",
    "step",
    "step_units",
    "n_images",
    "n_ambiguous",
    "n_one_flip_pairs",
    "n_searched",
    "seeds",
    "seeds_below_accuracy_1",
    "adversarial_rate_mean",
    "adversarial_rate_sd",
    "near_share_mean",
    "near_image_share",
    "adversarial_on_object_share",
    "adversarial_within_1px_share",
    "candidates_within_1px_share",
    "adversarial_beyond_1px_share",
)
CLAIM_FIELDS = ("scenario", "variant", "claim", "measure", "value", "holds")


def add_histograms(counts: list[np.ndarray]) -> np.ndarray:
    """The sum of distance histograms of different sizes (a larger D has more distance bins)."""
    total = np.zeros(max(len(c) for c in counts), np.int64)
    for c in counts:
        total[: len(c)] += c
    return total


def _share(counts: np.ndarray, upto: int) -> float:
    total = counts.sum()
    return float(counts[: upto + 1].sum() / total) if total else float("nan")


def scenario_rows(datasets: dict, summaries: dict, training: dict, step_units: dict) -> list[dict]:
    """Rows of scenarios.csv.

    ``datasets``: {(scenario, D, step): dataset}; ``summaries``:
    {(scenario, variant, D, step, seed): scenario summary}; ``training``:
    {(scenario, variant, D, step, seed): training summary}; ``step_units``:
    {scenario: units of its step}.
    """
    groups: dict = {}
    for key, summary in summaries.items():
        groups.setdefault(key[:4], []).append((key[4], summary))
    rows = []
    for (scenario, variant, size, step), runs in groups.items():
        ds = datasets[(scenario, size, step)]
        rates = np.array([s.attrs["adversarial_rate"] for _, s in runs])
        adversarial = np.sum([s["distance_adversarial"].values for _, s in runs], axis=0)
        candidates = np.sum([s["distance_candidates"].values for _, s in runs], axis=0)
        below = [
            seed
            for seed, _ in runs
            if not training[(scenario, variant, size, step, seed)]["reached_full_accuracy"]
        ]
        rows.append(
            {
                "scenario": scenario,
                "variant": variant,
                "size": size,
                "step": step,
                "step_units": step_units[scenario],
                "n_images": int(ds.attrs["n_images"]),
                "n_ambiguous": int(ds.attrs["n_ambiguous"]),
                "n_one_flip_pairs": int(ds.attrs["n_one_flip_pairs"]),
                "n_searched": int(runs[0][1].attrs["n_images"]),
                "seeds": len(runs),
                "seeds_below_accuracy_1": " ".join(str(k) for k in below) or "none",
                "adversarial_rate_mean": float(rates.mean()),
                "adversarial_rate_sd": float(rates.std(ddof=1)) if len(rates) > 1 else float("nan"),
                "near_share_mean": float(np.nanmean([s.attrs["near_share"] for _, s in runs]))
                if any(np.isfinite(s.attrs["near_share"]) for _, s in runs)
                else float("nan"),
                "near_image_share": float(
                    np.mean([s.attrs["n_near_images"] / s.attrs["n_images"] for _, s in runs])
                ),
                "adversarial_on_object_share": _share(adversarial, 0),
                "adversarial_within_1px_share": _share(adversarial, 1),
                "candidates_within_1px_share": _share(candidates, 1),
                "adversarial_beyond_1px_share": 1 - _share(adversarial, 1)
                if adversarial.sum()
                else float("nan"),
            }
        )
    return sorted(rows, key=lambda r: (r["scenario"], r["variant"], r["size"], r["step"]))


def claim_rows(rows: list[dict], summaries: dict) -> list[dict]:
    """Rows of scenario_claims.csv: the paper's three observations per (scenario, variant), with numbers."""
    out = []
    for scenario, variant in dict.fromkeys((r["scenario"], r["variant"]) for r in rows):
        mine = [r for r in rows if (r["scenario"], r["variant"]) == (scenario, variant)]
        nets = [s for k, s in summaries.items() if k[:2] == (scenario, variant)]
        flips = np.array([s.attrs["n_adversarial"] for s in nets], float)
        near = np.array([s.attrs["near_share"] for s in nets], float)
        weighted = float(np.nansum(near * flips) / flips.sum()) if flips.sum() else float("nan")
        sizes = sorted({r["size"] for r in mine})
        smallest = np.mean([r["adversarial_rate_mean"] for r in mine if r["size"] == sizes[0]])
        largest = np.mean([r["adversarial_rate_mean"] for r in mine if r["size"] == sizes[-1]])
        ratio = float(largest / smallest) if smallest > 0 and len(sizes) > 1 else float("nan")
        adversarial = add_histograms([s["distance_adversarial"].values for s in nets])
        beyond = 1 - _share(adversarial, 1) if adversarial.sum() else float("nan")
        claims = [
            (
                "boundary",
                "share of all adversarial flips on the 10 % of images nearest the boundary",
                weighted,
                weighted >= 0.5,
            ),
            (
                "size",
                f"adversarial rate at D={sizes[-1]} over the rate at D={sizes[0]}",
                ratio,
                len(sizes) > 1 and ratio < 1,
            ),
            ("distance", "share of adversarial flips more than 1 px from the object", beyond, beyond > 0.5),
        ]
        for claim, measure, value, holds in claims:
            out.append(
                {
                    "scenario": scenario,
                    "variant": variant,
                    "claim": claim,
                    "measure": measure,
                    "value": value,
                    "holds": "n/a" if not np.isfinite(value) else ("yes" if holds else "no"),
                }
            )
    return out


def write_scenario_tables(datasets: dict, summaries: dict, training: dict, step_units: dict, outputs) -> None:
    """scenarios.csv and scenario_claims.csv from data in memory (keys as ``scenario_rows``)."""
    rows = scenario_rows(datasets, summaries, training, step_units)
    claims = claim_rows(rows, summaries)
    write_text(outputs["scenarios"], csv_or_header(rows, SCENARIO_FIELDS))
    write_text(outputs["claims"], csv_or_header(claims, CLAIM_FIELDS))
    for row in rows:
        if row["seeds_below_accuracy_1"] != "none":
            log.warning(
                "%s/%s D=%d step=%s: seeds %s did not reach training accuracy 1.0",
                row["scenario"],
                row["variant"],
                row["size"],
                row["step"],
                row["seeds_below_accuracy_1"],
            )
    for claim in claims:
        log.info("%s/%s %s: %s = %.3g; holds: %s", *(claim[k] for k in CLAIM_FIELDS))


def write_tables(
    dataset_paths: dict, summary_paths: dict, line_cube_paths: dict, training_paths: dict, config, outputs
):
    """Read and check a study's files, then write its scenario tables.

    ``dataset_paths``: {(scenario, D, step): path}; ``summary_paths`` (the
    other scenarios' search summaries), ``line_cube_paths`` (the lines' flip
    cubes, summarised here against their boundary) and ``training_paths``:
    {(scenario, variant, D, step, seed): path}; ``config``: the study's.
    """
    from onepixel.study.inputs import open_dataset, open_search, open_summary, open_training_summary
    from onepixel.study.scenario_summary import summarise_scenario_search
    from onepixel.study.scenarios import LINES, image_boundary_distance, make_scenario, net_key
    from onepixel.study.variants import variant_config

    def net(scenario, variant):
        return variant_config(config, net_key(scenario, variant))

    reference = next(iter(config["variants"]))
    datasets = {
        key: open_dataset(path, *key[1:], net(key[0], reference)) for key, path in dataset_paths.items()
    }
    summaries = {k: open_summary(path, *k[2:], net(*k[:2])) for k, path in summary_paths.items()}
    for key, path in line_cube_paths.items():
        ds = datasets[(LINES, *key[2:4])].copy()
        ds["boundary_distance"] = ("image", image_boundary_distance(ds, net(LINES, key[1])))
        ds["boundary_distance"].attrs["units"] = "degree"
        summaries[key] = summarise_scenario_search(ds, open_search(path, *key[2:], net(*key[:2])))
    training = {k: open_training_summary(path, *k[2:], net(*k[:2])) for k, path in training_paths.items()}
    units = {
        s: make_scenario(config, s).distance_units if s != LINES else "degree"
        for s in {k[0] for k in datasets}
    }
    write_scenario_tables(datasets, summaries, training, units, outputs)
