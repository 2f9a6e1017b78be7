"""The cross-network tables (transfer, ensembles, universal pixels, predictors) from the analysis files.

``transfer.csv``: per (scenario, variant, other variant, D, step) the share of
one net's adversarial flips that are adversarial for the other, and the
Jaccard index of the two sets, over the ordered pairs of different seeds
(``within``: a variant's seeds; ``across``: a variant's nets against the
reference variant's). ``ensembles.csv``: the mean-logit ensemble and the
majority vote of a variant's seeds against its members. ``universal.csv``:
per net and class, the pixels whose flip fools at least the configured share
of the class's images, and the single best pixel. ``predictors.csv``: how
well each per-image quantity separates vulnerable from robust images (ROC
AUC over seeds; 0.5 is chance, 0 or 1 perfect), and the flipped pixel's
distance from the object for adversarial against other flips.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from onepixel.analysis.networks import auc_from_counts
from onepixel.io import write_text
from onepixel.study.tables.csv_text import csv_or_header

log = logging.getLogger("onepixel")

TRANSFER_FIELDS = ("scenario", "variant", "other", "kind", "size", "step", "pairs", "share_mean", "share_sd")
ENSEMBLE_FIELDS = ("scenario", "variant", "size", "step", "seeds", "members_rate_mean", "ensemble_rate")
UNIVERSAL_FIELDS = ("scenario", "variant", "size", "step", "seed", "class", "universal_pixels")
PREDICTOR_FIELDS = ("scenario", "variant", "size", "step", "predictor", "auc_mean", "auc_sd")


def _spread(values) -> dict:
    values = np.asarray([v for v in values if np.isfinite(v)], float)
    if values.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "min": float("nan"), "max": float("nan")}
    sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return {"mean": float(values.mean()), "sd": sd, "min": float(values.min()), "max": float(values.max())}


def _variant(key: str) -> str:
    return key.rpartition("/")[2]


def transfer_rows(analysis, scenario: str, size: int, step: float, reference: str) -> list[dict]:
    keys, seeds = analysis["net_key"].values, analysis["seed"].values
    share, jaccard = analysis["transfer_share"].values, analysis["jaccard"].values
    groups = list(analysis["group"].values)
    reference_key = next((g for g in groups if _variant(g) == reference), groups[0])
    rows = []
    for group in groups:
        for other, kind in ((group, "within"), (reference_key, "across")):
            if kind == "across" and group == reference_key:
                continue
            pairs = [
                (i, j)
                for i in range(len(keys))
                for j in range(len(keys))
                if keys[i] == group and keys[j] == other and (kind == "across" or seeds[i] != seeds[j])
            ]
            if not pairs:
                continue
            s = _spread([share[i, j] for i, j in pairs])
            jac = _spread([jaccard[i, j] for i, j in pairs])
            rows.append(
                {
                    "scenario": scenario,
                    "variant": _variant(group),
                    "other": _variant(other),
                    "kind": kind,
                    "size": size,
                    "step": step,
                    "pairs": len(pairs),
                    "share_mean": s["mean"],
                    "share_sd": s["sd"],
                    "share_min": s["min"],
                    "share_max": s["max"],
                    "jaccard_mean": jac["mean"],
                    "jaccard_sd": jac["sd"],
                }
            )
    return rows


def ensemble_rows(analysis, scenario: str, size: int, step: float) -> list[dict]:
    candidates = analysis.attrs["n_candidates"]
    rows = []
    for g, group in enumerate(analysis["group"].values):
        members = analysis["n_adversarial"].values[analysis["net_key"].values == group]
        rates = members / candidates
        ensemble = int(analysis["ensemble_adversarial"].values[g])
        rows.append(
            {
                "scenario": scenario,
                "variant": _variant(group),
                "size": size,
                "step": step,
                "seeds": len(members),
                "members_rate_mean": float(rates.mean()),
                "members_rate_min": float(rates.min()),
                "members_rate_max": float(rates.max()),
                "ensemble_rate": ensemble / candidates,
                "majority_rate": int(analysis["majority_adversarial"].values[g]) / candidates,
                "ensemble_over_members": ensemble / members.mean() if members.mean() else float("nan"),
                "checked_by_forward_pass": int(analysis["ensemble_checked"].values[g]),
                "within_tolerance_of_0": int(analysis["ensemble_unsure"].values[g]),
            }
        )
    return rows


def universal_rows(analysis, scenario: str, size: int, step: float, share: float) -> list[dict]:
    counts, images = analysis["class_pixel_adversarial"].values, analysis["class_images"].values
    rows = []
    for n, (key, seed) in enumerate(zip(analysis["net_key"].values, analysis["seed"].values, strict=True)):
        for c in range(counts.shape[1]):
            per_pixel = counts[n, c]
            best = np.unravel_index(int(np.argmax(per_pixel)), per_pixel.shape)
            rows.append(
                {
                    "scenario": scenario,
                    "variant": _variant(key),
                    "size": size,
                    "step": step,
                    "seed": int(seed),
                    "class": c,
                    "class_images": int(images[c]),
                    "universal_pixels": int((per_pixel >= share * images[c]).sum()) if images[c] else 0,
                    "best_row": int(best[0]),
                    "best_col": int(best[1]),
                    "best_images_fooled": int(per_pixel[best]),
                    "best_share": float(per_pixel[best] / images[c]) if images[c] else float("nan"),
                }
            )
    return rows


# The per-flip predictor's distance bands from the object (whole px): on or next to it, 2-3, 4-7, 8 and more.
FLIP_BANDS = ((0, 2), (2, 4), (4, 8), (8, None))


def predictor_rows(analysis, scenario: str, size: int, step: float) -> list[dict]:
    """Per predictor: its AUC over seeds and exact conditional rates.

    ``rate_q1`` … ``rate_q4``: the share of vulnerable images in each quartile
    of a per-image predictor (lowest values first); for ``flip_object_distance``
    the adversarial rate of the flips on or next to the object (q1: <= 1 px),
    2-3 px (q2), 4-7 px (q3) and further (q4).
    """
    rows = []
    keys = analysis["net_key"].values
    names = [str(p) for p in analysis["predictor"].values]
    for group in analysis["group"].values:
        mine = keys == group
        aucs = {p: analysis["predictor_auc"].values[mine, i] for i, p in enumerate(names)}
        rates = {p: analysis["predictor_vulnerable_share"].values[mine, i] for i, p in enumerate(names)}
        # A flip nearer the object scores higher: the distance histograms, reversed.
        adversarial = analysis["flip_distance_adversarial"].values[mine]
        candidates = analysis["flip_distance_candidates"].values[mine]
        pairs = list(zip(adversarial, candidates, strict=True))
        aucs["flip_object_distance"] = np.array([auc_from_counts(a[::-1], (c - a)[::-1]) for a, c in pairs])
        rates["flip_object_distance"] = np.array(
            [[a[lo:hi].sum() / max(c[lo:hi].sum(), 1) for lo, hi in FLIP_BANDS] for a, c in pairs]
        )
        for name, values in aucs.items():
            spread = _spread(values)
            if not np.isfinite(spread["mean"]):
                continue
            row = {
                "scenario": scenario,
                "variant": _variant(group),
                "size": size,
                "step": step,
                "predictor": name,
                "auc_mean": spread["mean"],
                "auc_sd": spread["sd"],
                "separation": abs(spread["mean"] - 0.5) * 2,
                "more_vulnerable": "lower" if spread["mean"] < 0.5 else "higher",
                "nets": int(np.isfinite(values).sum()),
            }
            for q in range(4):
                column = rates[name][:, q]
                row[f"rate_q{q + 1}"] = float(np.mean(column)) if np.isfinite(column).all() else float("nan")
            rows.append(row)
    return rows


def network_rows(analyses: dict, share: float, reference: str) -> dict[str, list[dict]]:
    """{table: rows} from {(scenario, D, step): analysis}."""
    tables = {"transfer": [], "ensembles": [], "universal": [], "predictors": []}
    for (scenario, size, step), analysis in sorted(analyses.items()):
        tables["transfer"] += transfer_rows(analysis, scenario, size, step, reference)
        tables["ensembles"] += ensemble_rows(analysis, scenario, size, step)
        tables["universal"] += universal_rows(analysis, scenario, size, step, share)
        tables["predictors"] += predictor_rows(analysis, scenario, size, step)
    return tables


def analysis_key(path) -> tuple[str, int, float]:
    """(scenario, D, step) of an analysis path: ``…/analysis/[<name>/]<scenario>/D<D>_step<step>.nc``."""
    match = re.search(r"([A-Za-z]\w*)/D(\d+)_step(\d+\.\d+)\.nc$", str(path).replace("\\", "/"))
    if not match:
        raise ValueError(f"cannot read scenario, D, step from path {path}")
    return match[1], int(match[2]), float(match[3])


def write_network_outputs(paths: list, share: float, reference: str, config: dict, outputs: dict) -> None:
    """Read each dataset's analysis file (checked), write the four tables and three figures."""
    from onepixel.io import check_identity
    from onepixel.study.figures import networks as figures
    from onepixel.study.figures.common import save_figure
    from onepixel.study.network_stage import read_networks
    from onepixel.study.settings import search_settings
    from onepixel.study.variants import variant_config

    analyses = {}
    for path in paths:
        scenario, size, step = analysis_key(path)
        analysis = read_networks(path)
        expected = {
            str(k): search_settings(variant_config(config, str(k)), size) for k in analysis["group"].values
        }
        check_identity(path, "network analysis", analysis.attrs, {"size": size}, expected)
        analyses[(scenario, size, step)] = analysis
    tables = network_rows(analyses, share, reference)
    fields = {
        "transfer": TRANSFER_FIELDS,
        "ensembles": ENSEMBLE_FIELDS,
        "universal": UNIVERSAL_FIELDS,
        "predictors": PREDICTOR_FIELDS,
    }
    for name, rows in tables.items():
        write_text(outputs[name], csv_or_header(rows, fields[name]))
    drawn = {
        "transfer": figures.transfer_figure(tables["transfer"], reference),
        "universal_pixels": figures.universal_figure(analyses, reference),
        "predictors": figures.predictors_figure(tables["predictors"], reference),
    }
    for name, figure in drawn.items():
        save_figure(figure, outputs[f"{name}_png"], outputs[f"{name}_pdf"], config, name.replace("_", " "))
    for row in tables["ensembles"]:
        log.info(
            "%s/%s D=%d step=%s: ensemble rate %.3e, members %.3e (min %.3e), majority %.3e",
            row["scenario"],
            row["variant"],
            row["size"],
            row["step"],
            row["ensemble_rate"],
            row["members_rate_mean"],
            row["members_rate_min"],
            row["majority_rate"],
        )
