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
    summaries: dict,
    training: dict,
    extra_training: dict,
    variants: list[str],
    reference: str,
    combos: list[tuple[int, float]],
    skipped: dict,
) -> list[dict]:
    """One row per (variant, D, step): rate mean/sd/min/max over seeds, the ratio to ``reference``, cost.

    ``summaries``/``training``: {(variant, D, step, seed): ...}; ``extra_training``:
    {(variant, D, step, seed, role): summary} of teachers and adversarial rounds,
    whose time counts to the variant's training cost; ``skipped``: {variant: {D: reason}}.
    """
    rows = []
    for variant in variants:
        for size, step in combos:
            row = {"variant": variant, "size": size, "angle_step": step}
            if size in skipped.get(variant, {}):
                rows.append({**row, "status": f"skipped: {skipped[variant][size]}"})
                continue
            seeds = sorted(k[3] for k in summaries if k[:3] == (variant, size, step))
            rates = np.array([summaries[(variant, size, step, k)].attrs["adversarial_rate"] for k in seeds])
            ref_seeds = [k[3] for k in summaries if k[:3] == (reference, size, step)]
            ref_rates = np.array(
                [summaries[(reference, size, step, k)].attrs["adversarial_rate"] for k in ref_seeds]
            )
            if variant == reference:
                ratio, low, high = 1.0, "", ""  # the reference against itself: no interval
            else:
                ratio, low, high = ratio_interval(rates, ref_rates) if ref_rates.size else (np.nan,) * 3
            nets = [training[(variant, size, step, k)] for k in seeds]
            extra = [s for key, s in extra_training.items() if key[:3] == (variant, size, step)]
            total = sum(s["train_seconds"] for s in nets) + sum(s["train_seconds"] for s in extra)
            short = [str(k) for k, s in zip(seeds, nets, strict=True) if not s["reached_full_accuracy"]]
            rows.append(
                {
                    **row,
                    "status": "ok",
                    "n_seeds": len(seeds),
                    "rate_mean": float(rates.mean()),
                    "rate_std": float(rates.std(ddof=1)) if rates.size > 1 else 0.0,
                    "rate_min": float(rates.min()),
                    "rate_max": float(rates.max()),
                    f"ratio_to_{reference}": ratio,
                    "ratio_ci95_low": low,
                    "ratio_ci95_high": high,
                    "epochs_mean": float(np.mean([s["epochs"] for s in nets])),
                    "train_seconds_mean": float(np.mean([s["train_seconds"] for s in nets])),
                    # Teachers and earlier adversarial rounds included: the variant's whole cost.
                    "total_train_seconds_per_net": total / len(seeds),
                    "seeds_below_accuracy_1": " ".join(short) or "none",
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


def round_rows(round_training: dict, round_cubes: dict, summaries: dict, training: dict) -> list[dict]:
    """Per adversarial-training round of every net: flips added, training, the rate its search found.

    Rounds 0 .. R-1 come from ``results/rounds/``; round R is the variant's net.
    """
    rows = []
    nets = sorted({key[:4] for key in round_training})
    for net in nets:
        rounds = sorted(int(key[4][len("round") :]) for key in round_training if key[:4] == net)
        for r in rounds:
            summary, cube = round_training[(*net, f"round{r}")], round_cubes[(*net, f"round{r}")]
            rows.append(_round_row(net, r, summary, cube.attrs))
        rows.append(_round_row(net, rounds[-1] + 1, training[net], summaries[net].attrs))
    return rows


def _round_row(net, round_index, summary, search_attrs) -> dict:
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
        "n_adversarial": int(search_attrs["n_adversarial"]),
        "adversarial_rate": float(search_attrs["adversarial_rate"]),
    }
