"""The attacks' figure: recall against the query budget, against the exhaustive ground truth."""

from __future__ import annotations

import numpy as np

from onepixel.study.figures.common import new_figure, size_colour


def recall_curve(results: list, budgets: np.ndarray) -> np.ndarray:
    """Fraction of the vulnerable attacked images found within each query budget."""
    hit = np.concatenate([r["hit"].values for r in results])
    queries = np.concatenate([r["queries"].values for r in results])
    vulnerable = np.concatenate([r["n_vulnerable"].values for r in results]) > 0
    if not vulnerable.any():
        return np.full(len(budgets), np.nan)
    return np.array([(hit & (queries <= q))[vulnerable].mean() for q in budgets])


def attack_recall(results: dict, variant: str):
    """Recall against queries, a panel per attack, a curve per D (``variant``'s nets, all steps and seeds).

    ``results``: {(attack, variant, D, step, seed): attack result Dataset}.
    """
    methods = sorted({k[0] for k in results})
    sizes = sorted({k[2] for k in results})
    fig, axes = new_figure(figsize=(4.2 * len(methods), 3.8), ncols=len(methods), squeeze=False, sharey=True)
    most = max(int(r["queries"].values.max(initial=1)) for r in results.values())
    budgets = np.unique(np.geomspace(1, max(most, max(sizes) ** 2), 60).astype(int))
    for ax, method in zip(axes[0], methods, strict=True):
        for size in sizes:
            runs = [r for k, r in results.items() if k[0] == method and k[1] == variant and k[2] == size]
            if not runs:
                continue
            colour = size_colour(size)
            ax.plot(budgets, 100 * recall_curve(runs, budgets), color=colour, label=f"D={size}")
            # The exhaustive search finds every one with D^2 queries.
            ax.plot([size * size], [100], marker="*", color=colour, ms=9)
        ax.axhline(100, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("queries (images classified)")
        ax.set_title(f"{method} ({variant})", fontsize=9)
    axes[0, 0].set_ylabel("vulnerable images found (%)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "Attacks against the exhaustive ground truth (dashed: 100 %, star: exhaustive search at D² queries)"
    )
    fig.tight_layout()
    return fig
