"""Variants against the reference: the exact adversarial rate, its seed spread, the training cost."""

from __future__ import annotations

import numpy as np

# Bootstrap over seeds for the interval of the ratio of mean rates (fixed seed: reproducible).
BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0
INTERVAL = 0.95


def ratio_interval(rates: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """mean(rates) / mean(reference) and its 95 % percentile-bootstrap interval over seeds.

    Seeds of each side are resampled independently (the nets of two variants
    are trained separately); with 5 seeds the interval is a rough guide.
    """
    rates, reference = np.asarray(rates, float), np.asarray(reference, float)
    if reference.mean() == 0:
        return float("nan"), float("nan"), float("nan")
    ratio = rates.mean() / reference.mean()
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    a = rng.choice(rates, (BOOTSTRAP_SAMPLES, rates.size)).mean(axis=1)
    b = rng.choice(reference, (BOOTSTRAP_SAMPLES, reference.size)).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = a / b
    tail = (1 - INTERVAL) / 2
    low, high = np.nanquantile(samples, [tail, 1 - tail])
    return float(ratio), float(low), float(high)


def variant_rows(
    rate_per_seed: list[dict],
    rate_means: list[dict],
    training: dict,
    extra_training: dict,
    variants: list[str],
    reference: str,
    combos: list[tuple[int, float]],
    skipped: dict,
) -> list[dict]:
    """One row per (variant, D, step): the rate over seeds, the ratio to ``reference``, the training cost.

    ``rate_per_seed``/``rate_means``: the rows of ``onepixel.study.tables.paper.adversarial_rate_rows``;
    ``training``: {(variant, D, step, seed): summary}; ``extra_training``:
    {(variant, D, step, seed, role): summary} of teachers and adversarial rounds,
    whose time counts to the variant's training cost; ``skipped``: {variant: {D: reason}}.
    """
    means = {(r["variant"], r["size"], r["angle_step"]): r for r in rate_means}

    def seed_rates(variant, size, step):
        rows = [
            r for r in rate_per_seed if (r["variant"], r["size"], r["angle_step"]) == (variant, size, step)
        ]
        return [r["seed"] for r in rows], np.array([r["adversarial_rate"] for r in rows])

    rows = []
    for variant in variants:
        for size, step in combos:
            row = {"variant": variant, "size": size, "angle_step": step}
            if size in skipped.get(variant, {}):
                rows.append({**row, "status": f"skipped: {skipped[variant][size]}"})
                continue
            seeds, rates = seed_rates(variant, size, step)
            _, ref_rates = seed_rates(reference, size, step)
            if variant == reference:
                ratio, low, high = 1.0, "", ""  # the reference against itself: no interval
            else:
                ratio, low, high = ratio_interval(rates, ref_rates) if ref_rates.size else (np.nan,) * 3
            nets = [training[(variant, size, step, k)] for k in seeds]
            extra = [s for key, s in extra_training.items() if key[:3] == (variant, size, step)]
            total = sum(s["train_seconds"] for s in nets) + sum(s["train_seconds"] for s in extra)
            mean = means[(variant, size, step)]
            rows.append(
                {
                    **row,
                    "status": "ok",
                    **{k: mean[k] for k in ("n_seeds", "rate_mean", "rate_std", "rate_min", "rate_max")},
                    f"ratio_to_{reference}": ratio,
                    "ratio_ci95_low": low,
                    "ratio_ci95_high": high,
                    "epochs_mean": float(np.mean([s["epochs"] for s in nets])),
                    "train_seconds_mean": float(np.mean([s["train_seconds"] for s in nets])),
                    # Teachers and earlier adversarial rounds included: the variant's whole cost.
                    "total_train_seconds_per_net": total / len(seeds),
                    "seeds_below_accuracy_1": mean["seeds_below_accuracy_1"],
                }
            )
    return rows


ROUND_FIELDS = (
    "variant",
    "size",
    "angle_step",
    "seed",
    "round",
    "n_flips_added",
    "epochs",
    "train_seconds",
    "stopped_no_flips_left",
    "reached_full_accuracy",
    "n_adversarial",
    "adversarial_rate",
)


def round_rows(round_training: dict, summaries: dict, training: dict) -> list[dict]:
    """Per adversarial-training round of every net: flips added, training, the rate its search found.

    Rounds 0 .. R-1 come from ``results/rounds/``; round R is the variant's net.
    Round r's search is what round r + 1 trained on: that training summary
    records its count (``n_flips_found``), so no round cube is read here.
    """
    rows = []
    nets = sorted({key[:4] for key in round_training})
    for net in nets:
        size = net[1]
        rounds = sorted(int(key[4][len("round") :]) for key in round_training if key[:4] == net)
        for r in rounds:
            after = round_training.get((*net, f"round{r + 1}"), training[net])
            found = int(after["n_flips_found"])
            rows.append(
                _round_row(
                    net,
                    r,
                    round_training[(*net, f"round{r}")],
                    found,
                    found / (after["n_images"] * size * size),
                )
            )
        attrs = summaries[net].attrs
        rows.append(
            _round_row(net, rounds[-1] + 1, training[net], attrs["n_adversarial"], attrs["adversarial_rate"])
        )
    return rows


def _round_row(net, round_index, summary, n_adversarial, rate) -> dict:
    variant, size, step, seed = net
    return {
        "variant": variant,
        "size": size,
        "angle_step": step,
        "seed": seed,
        "round": round_index,
        "n_flips_added": summary.get("n_flips_added", 0),
        "epochs": summary["epochs"],
        "train_seconds": round(summary["train_seconds"], 2),
        "stopped_no_flips_left": bool(summary.get("stopped_no_flips_left", False)),
        "reached_full_accuracy": bool(summary["reached_full_accuracy"]),
        "n_adversarial": int(n_adversarial),
        "adversarial_rate": float(rate),
    }
