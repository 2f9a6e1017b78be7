"""A toy scenario's Fig. 4 and 5, drawn from its per-network summaries (``onepixel.study.scenario_summary``).

Fig. 4: the adversarial likelihood Adv_cnt / (n D²) against the signed
distance of the images' generators to the decision boundary. Fig. 5: the
likelihood that flipping each pixel is adversarial, over the images next to
the boundary. ``groups`` is {(D, step): [summary per seed]} of one scenario
and variant; Fig. 3 and 6 are the paper's (``onepixel.study.figures.paper``).
"""

from __future__ import annotations

import numpy as np

from onepixel.analysis.boundary import likelihood_by_distance
from onepixel.study.figures.common import new_figure, size_colour

# Bins of the boundary distance over the range the images span (Fig. 4).
DISTANCE_BINS = 24


def distance_edges(runs, bins: int = DISTANCE_BINS) -> np.ndarray:
    """Bin edges symmetric about the boundary, spanning every image's distance."""
    reach = max(float(np.abs(s["boundary_distance"].values).max()) for s in runs) or 1.0
    return np.linspace(-reach, reach, bins + 1) * (1 + 1e-9)


def fig4_boundary_likelihood(groups: dict, scenario: str, units: str):
    """Adversarial likelihood against the signed boundary distance per (D, step), seeds' mean and range."""
    steps = sorted({k[1] for k in groups})
    fig, axes = new_figure(figsize=(6.5, 3.2 * len(steps)), nrows=len(steps), squeeze=False)
    for ax, step in zip(axes[:, 0], steps, strict=True):
        for (size, at_step), runs in sorted(groups.items()):
            if at_step != step:
                continue
            edges = distance_edges(runs)
            curves = [
                likelihood_by_distance(
                    s["boundary_distance"].values, s["n_adversarial"].values, size * size, edges
                )
                for s in runs
            ]
            centres = curves[0][0]
            values = np.stack([c[1] for c in curves])
            ax.plot(
                centres, np.nanmean(values, 0), color=size_colour(size), marker=".", lw=1.2, label=f"D={size}"
            )
            if len(runs) > 1:
                ax.fill_between(
                    centres, np.nanmin(values, 0), np.nanmax(values, 0), color=size_colour(size), alpha=0.2
                )
        ax.axvline(0, color="k", ls=":", lw=0.8)
        ax.set_title(f"grid step {step}", fontsize=9)
        ax.set_xlabel(f"signed distance to the decision boundary ({units}; > 0: class 1)")
        ax.set_ylabel("Adv_cnt / (n D²)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 4 ({scenario}): adversarial likelihood against the boundary distance", fontsize=10)
    fig.tight_layout()
    return fig


def fig5_near_heatmaps(groups: dict, scenario: str):
    """Per (D, step): the likelihood that a pixel's flip is adversarial, on the images by the boundary."""
    sizes = sorted({k[0] for k in groups})
    steps = sorted({k[1] for k in groups})
    fig, axes = new_figure(
        figsize=(3.3 * len(steps), 3.1 * len(sizes)), nrows=len(sizes), ncols=len(steps), squeeze=False
    )
    for r, size in enumerate(sizes):
        for c, step in enumerate(steps):
            ax = axes[r, c]
            runs = groups.get((size, step))
            if not runs:
                ax.axis("off")
                continue
            heat = np.mean(
                [s["pixel_adversarial_near"].values / s.attrs["n_near_images"] for s in runs], axis=0
            )
            image = ax.imshow(heat, cmap="inferno", interpolation="nearest")
            near = runs[0].attrs["n_near_images"]
            ax.set_title(f"D={size}, step {step}: {near} images, max {heat.max():.2e}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fraction = next(iter(groups.values()))[0].attrs["near_fraction"]
    fig.suptitle(
        f"Fig. 5 ({scenario}): likelihood that flipping a pixel is adversarial, "
        f"images within the nearest {fraction:.0%} of the boundary",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
