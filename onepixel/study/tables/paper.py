"""The paper's tables and the study's own: Table 1, adversarial rates, training, ambiguity, on-manifold."""

from __future__ import annotations

import copy
import csv
import json
import logging

import numpy as np
import xarray as xr

from onepixel.data.lines import build_dataset, length_range
from onepixel.io import write_json, write_text
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import study_settings
from onepixel.study.tables.csv_text import csv_or_header, variant_order
from onepixel.study.tables.variants import ROUND_FIELDS

log = logging.getLogger("onepixel")

# The length range that lands closest to the paper's Table 1 (docs/method.md, "Dataset counts").
CLOSEST_LENGTH_MIN = 16
CLOSEST_FROM_SIZE = 32


def load_paper_table(path) -> dict[tuple[int, float], int]:
    with open(path) as handle:
        return {
            (int(r["size"]), float(r["angle_step"])): int(r["paper_n_images"]) for r in csv.DictReader(handle)
        }


def closest_setting_config(config: dict, size: int) -> dict:
    alt = copy.deepcopy(config)
    if size >= CLOSEST_FROM_SIZE:
        alt["dataset"]["length_min_by_size"] = {str(size): CLOSEST_LENGTH_MIN}
    return alt


def unique_images_of_lengths(dataset: xr.Dataset, size: int, step: float, config: dict) -> int:
    """Unique images under ``config``, whose dataset settings differ from ``dataset``'s in the lengths only.

    Where the dataset was made from all of the setting's lengths, its map of
    generators already says which image each (length, angle) makes: the count
    is that of the distinct images on those rows (the same rasteriser, angles
    and lengths make the same images). Otherwise the setting is rasterised.
    """
    wanted = length_range(size, config["dataset"])
    made = dataset["length"].values
    if np.isin(wanted, made).all():
        rows = np.isin(made, wanted)
        return int(np.unique(dataset["generator_image"].values[rows]).size)
    return int(build_dataset(size, step, config).attrs["n_images"])


def table1_rows(datasets: dict, paper: dict, config: dict) -> list[dict]:
    """Our unique-image counts next to the paper's (``paper``: {(D, step): count}), default and closest."""
    rows = []
    for (size, step), ds in sorted(datasets.items()):
        ours = int(ds.attrs["n_images"])
        alt_config = closest_setting_config(config, size)
        if alt_config["dataset"] == config["dataset"]:
            closest = ours
        else:
            closest = unique_images_of_lengths(ds, size, step, alt_config)
        published = paper.get((size, step))
        row = {
            "size": size,
            "angle_step": step,
            "paper_n_images": published if published is not None else "",
            "ours_n_images": ours,
            "ours_n_ambiguous": int(ds.attrs["n_ambiguous"]),
            "ours_diff": ours - published if published else "",
            "ours_diff_pct": round(100 * (ours / published - 1), 2) if published else "",
            "closest_length_min": alt_config["dataset"]["length_min_by_size"].get(
                str(size), config["dataset"]["length_min"]
            ),
            "closest_n_images": closest,
            "closest_diff": closest - published if published else "",
            "closest_diff_pct": round(100 * (closest / published - 1), 2) if published else "",
        }
        rows.append(row)
    return rows


def adversarial_rate_rows(summaries: dict) -> tuple[list[dict], list[dict]]:
    """Per-seed rates and per-(variant, D, step) mean and standard deviation.

    ``summaries``: {(variant, D, step, seed): summary}.
    """
    per_seed, groups = [], {}
    for (variant, size, step, seed), s in sorted(summaries.items(), key=variant_order(summaries)):
        row = {
            "variant": variant,
            "size": size,
            "angle_step": step,
            "seed": seed,
            "n_images": s.attrs["n_images"],
            "n_candidates": s.attrs["n_candidates"],
            "n_adversarial": s.attrs["n_adversarial"],
            "adversarial_rate": s.attrs["adversarial_rate"],
            "n_on_manifold_excluded": s.attrs["n_on_manifold_misclassified"],
            "training_accuracy": s.attrs["training_accuracy"],
            "reached_full_accuracy": bool(s.attrs["reached_full_accuracy"]),
        }
        per_seed.append(row)
        groups.setdefault((variant, size, step), []).append(row)
    means = []
    for (variant, size, step), rows in groups.items():
        rates = np.array([r["adversarial_rate"] for r in rows])
        not_converged = [r["seed"] for r in rows if not r["reached_full_accuracy"]]
        means.append(
            {
                "variant": variant,
                "size": size,
                "angle_step": step,
                "n_seeds": len(rows),
                "n_images": rows[0]["n_images"],
                "rate_mean": float(rates.mean()),
                "rate_std": float(rates.std(ddof=1)) if len(rates) > 1 else 0.0,
                "rate_min": float(rates.min()),
                "rate_max": float(rates.max()),
                "seeds_below_accuracy_1": " ".join(map(str, not_converged)) or "none",
            }
        )
    return per_seed, means


def training_rows(training_summaries: dict) -> list[dict]:
    """``training_summaries``: {(variant, D, step, seed, role): summary}."""
    rows = []
    for (variant, size, step, seed, role), s in sorted(
        training_summaries.items(), key=variant_order(training_summaries)
    ):
        rows.append(
            {
                "variant": variant,
                "role": role,
                "size": size,
                "angle_step": step,
                "seed": seed,
                "n_images": s["n_images"],
                "n_training_images": s.get("n_training_images", s["n_images"]),
                "epochs": s["epochs"],
                "max_epochs": s["max_epochs"],
                "final_accuracy": s["final_accuracy"],
                "final_errors": s["final_errors"],
                "reached_full_accuracy": s["reached_full_accuracy"],
                "train_seconds": round(s["train_seconds"], 2),
                "status": "ok" if s["reached_full_accuracy"] else "NOT CONVERGED (accuracy < 1.0)",
            }
        )
    return rows


def ambiguous_rows(datasets: dict) -> list[dict]:
    rows = []
    for (size, step), ds in sorted(datasets.items()):
        amb = ds["ambiguous"].values
        rows.append(
            {
                "size": size,
                "angle_step": step,
                "n_images": int(amb.size),
                "n_ambiguous": int(amb.sum()),
                "ambiguous_angles": " ".join(f"{a:g}" for a in np.unique(ds["rep_angle"].values[amb])),
            }
        )
    return rows


def on_manifold_rows(datasets: dict, summaries: dict, exclude_ambiguous: bool) -> list[dict]:
    """Per (D, step) and variant: flips of searched images onto another valid image, by the label landed on.

    They are never counted as adversarial; ``misclassified_*`` counts those the
    nets classified differently from the source image's label, i.e. what the
    rates would have wrongly counted.
    """
    rows = []
    variants = list(dict.fromkeys(key[0] for key in summaries))
    for (size, step), ds in sorted(datasets.items()):
        label, ambiguous = ds["label"].values, ds["ambiguous"].values
        source, target = ds["pair_image"].values, ds["pair_target"].values
        searched = ~ambiguous[source] if exclude_ambiguous else np.ones(source.size, bool)
        source, target = source[searched], target[searched]
        for variant in variants:
            excluded = [
                int(s.attrs["n_on_manifold_misclassified"])
                for (v, d, st, _), s in summaries.items()
                if (v, d, st) == (variant, size, step)
            ]
            if not excluded:
                continue  # the variant's net does not fit this D
            rows.append(_on_manifold_row(variant, size, step, label, ambiguous, source, target, excluded))
    return rows


def _on_manifold_row(variant, size, step, label, ambiguous, source, target, excluded) -> dict:
    return {
        "variant": variant,
        "size": size,
        "angle_step": step,
        "n_on_manifold_flips": int(source.size),
        "onto_label_0": int(((label[target] == 0) & ~ambiguous[target]).sum()),
        "onto_label_1": int(((label[target] == 1) & ~ambiguous[target]).sum()),
        "onto_ambiguous": int(ambiguous[target].sum()),
        "onto_other_label": int(((label[target] != label[source]) & ~ambiguous[target]).sum()),
        "n_seeds": len(excluded),
        "misclassified_mean_per_net": float(np.mean(excluded)) if excluded else 0.0,
        "misclassified_total": int(np.sum(excluded)),
    }


def write_tables(
    dataset_paths,
    summary_paths,
    training_paths,
    extra_training_paths,
    paper_path,
    config,
    outputs,
) -> None:
    """Every study table. Paths are keyed {(D, step)} (datasets), {(variant, D, step, seed)} (nets)
    and {(variant, D, step, seed, role)} (teachers, adversarial rounds); ``config`` is the study's.
    """
    from onepixel.study.inputs import open_dataset, open_summary, open_training_summary
    from onepixel.study.variants import variant_config, variant_names

    nets = {v: variant_config(config, v) for v in variant_names(config)}
    datasets = {key: open_dataset(path, *key, config) for key, path in dataset_paths.items()}
    summaries = {k: open_summary(path, *k[1:], nets[k[0]]) for k, path in summary_paths.items()}
    training = {k: open_training_summary(path, *k[1:], nets[k[0]]) for k, path in training_paths.items()}
    extra = {
        k: open_training_summary(path, *k[1:4], nets[k[0]], k[4]) for k, path in extra_training_paths.items()
    }
    tables = study_tables(datasets, summaries, training, extra, load_paper_table(paper_path), config)
    for name, rows in tables.items():
        write_text(outputs[name], csv_or_header(rows, ROUND_FIELDS))
    settings = {v: study_settings(net) for v, net in nets.items()}
    as_json = ("onepixel_config", "onepixel_versions", "onepixel_cpu", "onepixel_settings")
    provenance = {
        k: json.loads(v) if k in as_json else v for k, v in provenance_attrs(config, settings).items()
    }
    write_json(outputs["provenance"], provenance)
    for row in tables["rates"]:
        if row["seeds_below_accuracy_1"] != "none":
            log.warning(
                "%s D=%d step=%s: seeds %s did not reach training accuracy 1.0",
                row["variant"],
                row["size"],
                row["angle_step"],
                row["seeds_below_accuracy_1"],
            )


def study_tables(datasets: dict, summaries: dict, training: dict, extra: dict, paper: dict, config) -> dict:
    """{table name: rows} from the study's data in memory, keyed as ``write_tables``'s paths."""
    from onepixel.study.tables.variants import round_rows, variant_rows
    from onepixel.study.variants import reference_variant, variant_names, variant_sizes

    names = variant_names(config)
    rate_per_seed, rate_means = adversarial_rate_rows(summaries)
    all_training = {**{(*k, "net"): s for k, s in training.items()}, **extra}
    rounds = {k: s for k, s in extra.items() if k[4].startswith("round")}
    sizes_of = {v: variant_sizes(config, v)[1] for v in names}
    return {
        "table1": table1_rows(datasets, paper, config),
        "rates_per_seed": rate_per_seed,
        "rates": rate_means,
        "training": training_rows(all_training),
        "ambiguous": ambiguous_rows(datasets),
        "on_manifold": on_manifold_rows(datasets, summaries, config["dataset"]["exclude_ambiguous"]),
        "variants": variant_rows(
            rate_per_seed,
            rate_means,
            training,
            extra,
            names,
            reference_variant(config),
            sorted(datasets),
            sizes_of,
        ),
        "adversarial_rounds": round_rows(rounds, summaries, training),
    }
