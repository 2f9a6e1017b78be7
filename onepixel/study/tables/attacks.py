"""The attacks' recall table (and its figure): what each attack found of the exhaustive ground truth."""

from __future__ import annotations

import numpy as np

from onepixel.attacks.scores import VULNERABILITY_BINS, bin_name, vulnerability_bin

RECALL_AT = (1, 10, 100)


def attack_recall_rows(results: dict) -> list[dict]:
    """A row per (attack, variant, D, step); ``results``: {(attack, variant, D, step, seed): attack Dataset}.

    Recall = attacked vulnerable images whose reported flip is one of the
    cube's adversarial flips, per seed (mean and sd over seeds) and pooled over
    seeds per vulnerability bin.
    """
    groups: dict = {}
    for key, result in results.items():
        groups.setdefault(key[:4], []).append(result)
    rows = []
    for (attack, variant, size, step), runs in groups.items():
        hit = np.concatenate([r["hit"].values for r in runs])
        vulnerable_counts = np.concatenate([r["n_vulnerable"].values for r in runs])
        queries = np.concatenate([r["queries"].values for r in runs])
        seconds = np.concatenate([r["seconds"].values for r in runs])
        per_seed = [_recall(r["hit"].values, r["n_vulnerable"].values > 0) for r in runs]
        per_seed = np.array([v for v in per_seed if np.isfinite(v)])
        bins = vulnerability_bin(vulnerable_counts)
        row = {
            "attack": attack,
            "variant": variant,
            "size": size,
            "angle_step": step,
            "n_seeds": len(runs),
            "n_attacked": int(hit.size),
            "n_vulnerable": int((vulnerable_counts > 0).sum()),
            "recall_mean": float(per_seed.mean()) if per_seed.size else float("nan"),
            "recall_std": float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0,
        }
        for k, (low, high) in enumerate(VULNERABILITY_BINS):
            name = bin_name(low, high)
            row[f"recall_{name}"] = _recall(hit, bins == k)
            row[f"n_{name}"] = int((bins == k).sum())
        row["false_successes_on_invulnerable"] = int(hit[vulnerable_counts == 0].sum())
        # The gradient's pixel order: recall@k (other attacks have no order: blank).
        ranks = (
            np.concatenate([r["first_hit_rank"].values for r in runs])
            if "first_hit_rank" in runs[0]
            else None
        )
        for k in RECALL_AT:
            row[f"recall_at_{k}"] = (
                "" if ranks is None else _recall((ranks > 0) & (ranks <= k), vulnerable_counts > 0)
            )
        row.update(
            {
                "queries_median": float(np.median(queries)) if queries.size else float("nan"),
                "queries_max": int(queries.max()) if queries.size else 0,
                "seconds_per_image": float(seconds.mean()) if seconds.size else float("nan"),
                "exhaustive_queries_per_image": size * size,
                "exhaustive_seconds_per_image": float(
                    np.mean([r.attrs["exhaustive_seconds_per_image"] for r in runs])
                ),
            }
        )
        rows.append(row)
    return rows


def _recall(hit: np.ndarray, among: np.ndarray) -> float:
    return float(hit[among].mean()) if among.any() else float("nan")


def write_attack_tables(attack_paths: dict, config: dict, outputs) -> None:
    """``attack_paths``: {(attack, variant, D, step, seed): path}; ``config``: the study's."""
    from onepixel.io import write_text
    from onepixel.study.attack_stage import open_attack
    from onepixel.study.figures.attacks import attack_recall
    from onepixel.study.figures.common import save_figure
    from onepixel.study.tables.csv_text import csv_or_header
    from onepixel.study.variants import reference_variant, variant_config

    results = {
        key: open_attack(path, *key[2:], variant_config(config, key[1]), key[0])
        for key, path in sorted(attack_paths.items())
    }
    rows = attack_recall_rows(results)
    write_text(outputs["table"], csv_or_header(rows, ("attack", "variant", "size", "angle_step")))
    figure = attack_recall(results, reference_variant(config))
    save_figure(figure, outputs["png"], outputs["pdf"], config, "Attack recall against queries")
