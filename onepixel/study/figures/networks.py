"""The cross-network figures: transfer between seeds, universal pixels, predictors of vulnerability.

Each takes the tables' rows (or the analyses) of the reference variant and
returns a ``matplotlib.figure.Figure``.
"""

from __future__ import annotations

import numpy as np

from onepixel.study.figures.common import new_figure

MARKERS = "os^Dv<>"


def _panels(scenarios: list[str], **kwargs):
    fig, axes = new_figure(figsize=(5.2 * len(scenarios), 3.8), ncols=len(scenarios), squeeze=False, **kwargs)
    return fig, dict(zip(scenarios, axes[0], strict=True))


def transfer_figure(rows: list[dict], reference: str):
    """Share of a net's adversarial flips adversarial for another seed against D (mean ± sd over pairs)."""
    rows = [r for r in rows if r["kind"] == "within" and r["variant"] == reference]
    scenarios = sorted({r["scenario"] for r in rows}) or ["none"]
    fig, axes = _panels(scenarios)
    for scenario, ax in axes.items():
        mine = [r for r in rows if r["scenario"] == scenario]
        for i, step in enumerate(sorted({r["step"] for r in mine})):
            at = sorted((r for r in mine if r["step"] == step), key=lambda r: r["size"])
            ax.errorbar(
                [r["size"] for r in at],
                [r["share_mean"] for r in at],
                yerr=[0 if not np.isfinite(r["share_sd"]) else r["share_sd"] for r in at],
                marker=MARKERS[i % len(MARKERS)],
                capsize=3,
                label=f"step {step}",
            )
        ax.set_ylim(0, 1)
        ax.set_xlabel("image size D")
        ax.set_ylabel("share of A's adversarial flips adversarial for B")
        ax.set_title(f"{scenario}: transfer between seeds ({reference})", fontsize=9)
        if mine:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def universal_figure(analyses: dict, reference: str):
    """Per (scenario, step) row and D column: each pixel's share of a class's images its flip fools
    (the larger class share, mean over seeds)."""
    rows = sorted({(s, step) for s, _, step in analyses})
    sizes = sorted({d for _, d, _ in analyses})
    fig, axes = new_figure(
        figsize=(3.0 * len(sizes), 2.9 * len(rows)), nrows=len(rows), ncols=len(sizes), squeeze=False
    )
    for r, (scenario, step) in enumerate(rows):
        for c, size in enumerate(sizes):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            analysis = analyses.get((scenario, size, step))
            mine = (
                None
                if analysis is None
                else analysis["net_key"].values == _reference_key(analysis, reference)
            )
            if mine is None or not mine.any():
                ax.axis("off")
                continue
            counts = analysis["class_pixel_adversarial"].values[mine]
            images = np.maximum(analysis["class_images"].values, 1).reshape(1, -1, 1, 1)
            share = (counts / images).mean(axis=0).max(axis=0)
            image = ax.imshow(share, cmap="inferno", interpolation="nearest", vmin=0)
            ax.set_title(f"{scenario} D={size} step {step}: max {share.max():.2f}", fontsize=7)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(
        f"Universal pixels ({reference}): share of a class's images one pixel's flip fools", fontsize=10
    )
    fig.tight_layout()
    return fig


def _reference_key(analysis, reference: str) -> str:
    groups = [str(g) for g in analysis["group"].values]
    return next((g for g in groups if g.rpartition("/")[2] == reference), groups[0])


def predictors_figure(rows: list[dict], reference: str):
    """ROC AUC of each predictor, vulnerable against robust images (flips: adversarial against others)."""
    rows = [r for r in rows if r["variant"] == reference]
    scenarios = sorted({r["scenario"] for r in rows}) or ["none"]
    fig, axes = _panels(scenarios)
    for scenario, ax in axes.items():
        mine = [r for r in rows if r["scenario"] == scenario]
        steps = sorted({r["step"] for r in mine})
        for predictor in dict.fromkeys(r["predictor"] for r in mine):
            line = None
            for i, step in enumerate(steps):
                at = sorted(
                    (r for r in mine if (r["predictor"], r["step"]) == (predictor, step)),
                    key=lambda r: r["size"],
                )
                if not at:
                    continue
                colour = line[0].get_color() if line else None
                line = ax.plot(
                    [r["size"] for r in at],
                    [r["auc_mean"] for r in at],
                    marker=MARKERS[i % len(MARKERS)],
                    color=colour,
                    label=predictor if line is None else None,
                )
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set_ylim(0, 1)
        ax.set_xlabel("image size D (markers: steps)")
        ax.set_ylabel("ROC AUC (0.5: chance; < 0.5: lower values more vulnerable)")
        ax.set_title(f"{scenario}: predictors of vulnerability ({reference})", fontsize=9)
        if mine:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
