"""Figures that compare the study's variants: rate against D, and Fig. 5 heatmaps per variant.

``groups`` is {(variant, D, step): [summary per seed]}; ``variants`` the
variants to draw, in the config's order.
"""

from __future__ import annotations

import matplotlib
import numpy as np

from onepixel.study.figures.common import new_figure
from onepixel.study.figures.paper import draw_heatmap


def variants_rate(groups: dict, variants: list[str]):
    """Exact adversarial rate against D, a line per variant, a panel per angle step; seeds as dots."""
    steps = sorted({k[2] for k in groups})
    colours = dict(zip(variants, matplotlib.colormaps["tab10"].colors, strict=False))
    fig, axes = new_figure(figsize=(4.2 * len(steps), 3.8), ncols=len(steps), squeeze=False, sharey=True)
    for ax, step in zip(axes[0], steps, strict=True):
        for offset, variant in enumerate(variants):
            sizes = sorted(k[1] for k in groups if k[0] == variant and k[2] == step)
            rates = [
                np.array([s.attrs["adversarial_rate"] for s in groups[(variant, d, step)]]) for d in sizes
            ]
            # Variants side by side around each D, so their seed dots do not overlap.
            shift = (offset - (len(variants) - 1) / 2) * 0.6
            ax.plot(
                np.add(sizes, shift),
                [r.mean() for r in rates],
                "-o",
                ms=4,
                color=colours[variant],
                label=variant,
            )
            for d, r in zip(sizes, rates, strict=True):
                ax.scatter(np.full(r.size, d + shift), r, s=8, alpha=0.45, color=colours[variant])
        ax.set_yscale("log")
        ax.set_xlabel("image size D")
        ax.set_title(f"angle step {step}°", fontsize=9)
    axes[0, 0].set_ylabel("adversarial rate ADV / (N D²)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "Exact one-pixel adversarial rate per variant (line: mean over seeds, dots: seeds)", fontsize=10
    )
    fig.tight_layout()
    return fig


def heatmap_size(groups: dict, variants: list[str]) -> int:
    """The largest D every variant has nets of (else the largest of any)."""
    shared = set.intersection(*({k[1] for k in groups if k[0] == v} for v in variants))
    return max(shared) if shared else max(k[1] for k in groups)


def variants_heatmaps(groups: dict, variants: list[str], dataset_cfg: dict):
    """Fig. 5 per variant for one D: the likelihood that flipping a pixel is adversarial."""
    size = heatmap_size(groups, variants)
    steps = sorted({k[2] for k in groups if k[1] == size})
    shape = {"nrows": len(variants), "ncols": len(steps), "squeeze": False}
    fig, axes = new_figure(figsize=(3.3 * len(steps), 3.1 * len(variants)), **shape)
    for r, variant in enumerate(variants):
        for c, step in enumerate(steps):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            runs = groups.get((variant, size, step))
            if not runs:
                ax.set_title(f"{variant}: no net at D={size}", fontsize=8)
                continue
            draw_heatmap(fig, ax, runs, size, dataset_cfg, f"{variant}, step {step}°")
    fig.suptitle(
        f"Fig. 5 per variant at D={size}: likelihood that flipping a pixel is adversarial", fontsize=10
    )
    fig.tight_layout()
    return fig
