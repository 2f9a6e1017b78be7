"""The paper's figures, drawn from data in memory: datasets, cubes and per-net summaries.

Each ``fig*`` function returns a ``matplotlib.figure.Figure``; the study's
jobs read the files and save the figures (``onepixel.study.figures.files``).
``groups`` is {(D, step): [summary per seed]} of one variant.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from onepixel.study.figures.common import label_log_axis, new_figure, size_colour


def signed_angle(angle):
    """Map [0, 180) to [-90, 90) so the window around 0° is contiguous."""
    angle = np.asarray(angle, float)
    return np.where(angle >= 90, angle - 180, angle)


def fig2_examples(ds, positive_range):
    """Nine images of the longest length at angles around the two decision boundaries, and the classes."""
    low, high = positive_range
    angles = ds["angle"].values
    wanted = np.linspace(low - 20, high + 20, 9)
    picks = [int(np.argmin(np.abs(((angles - w + 90) % 180) - 90))) for w in wanted]
    fig = Figure(figsize=(11, 3.2))
    grid = fig.add_gridspec(2, len(picks), height_ratios=[4, 0.6], hspace=0.35)
    longest = ds.sizes["length"] - 1
    for i, ai in enumerate(picks):
        ax = fig.add_subplot(grid[0, i])
        index = int(ds["generator_image"].values[longest, ai])
        ax.imshow(ds["images"].values[index], cmap="magma", interpolation="nearest")
        label = int(ds["angle_label"].values[ai])
        ax.set_title(f"α={angles[ai]:g}°\ny={label}", fontsize=8, color="tab:green" if label else "black")
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.add_subplot(grid[1, :])
    xs = np.linspace(wanted[0], wanted[-1], 400)
    inside = ((xs % 180) >= low) & ((xs % 180) <= high)
    bar.imshow(
        inside[None, :], aspect="auto", cmap="RdYlGn", vmin=-0.5, vmax=1.5, extent=(xs[0], xs[-1], 0, 1)
    )
    bar.set_yticks([])
    bar.set_xlabel(f"angle α (°): green = class 1 (decision boundary at {low:g}° and {high:g}°)")
    fig.suptitle(
        f"Fig. 2: generated images, D={ds.attrs['size']}, longest length {int(ds['length'].values[-1])} px"
    )
    return fig


def fig3_adversarial(cube, confirmations):
    """An image and two of its adversarial flips, each confirmed by a forward pass."""
    image_pos, pixels, margins = confirmations["image_pos"], confirmations["pixels"], confirmations["margins"]
    base_image = confirmations["image"]
    fig, axes = new_figure(figsize=(3.2 * (1 + len(pixels)), 3.4), ncols=1 + len(pixels), squeeze=False)
    axes = axes[0]
    label = int(cube["label"].values[image_pos])
    axes[0].imshow(base_image, cmap="gray_r", interpolation="nearest")
    if "angle" in cube.coords:
        generator = f"α={cube['angle'].values[image_pos]:g}°, L={int(cube['length'].values[image_pos])}"
    else:  # another scenario: the image's signed distance to its decision boundary
        generator = f"boundary distance {float(cube['boundary_distance'].values[image_pos]):+.2f}"
    axes[0].set_title(
        f"image: {generator}\nlabel {label}, margin {float(cube['base_margin'].values[image_pos]):+.2f}",
        fontsize=9,
    )
    for ax, (row, col), m in zip(axes[1:], pixels, margins, strict=False):
        flipped = base_image.copy()
        flipped[row, col] = 1 - flipped[row, col]
        ax.imshow(flipped, cmap="gray_r", interpolation="nearest")
        ax.scatter([col], [row], s=120, facecolors="none", edgecolors="red", linewidths=1.5)
        ax.set_title(f"flip ({row}, {col}): predicted {int(m > 0)}\nmargin {m:+.2f} (confirmed)", fontsize=9)
    if not pixels:
        fig.text(0.6, 0.5, "no adversarial flip found for this network", ha="center")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    step = (
        f"step {cube.attrs['angle_step']}°"
        if "angle_step" in cube.attrs
        else f"grid step {cube.attrs['grid_step']}"
    )
    scenario = f"{cube.attrs['scenario']}, " if "scenario" in cube.attrs else ""
    fig.suptitle(
        f"Fig. 3: confirmed one-pixel adversarial examples "
        f"({scenario}D={cube.attrs['size']}, {step}, seed {cube.attrs['seed']})"
    )
    return fig


def fig4_likelihood(groups: dict, positive_range, window: float):
    """Adversarial likelihood against the angle within ``window`` degrees of each decision boundary."""
    sizes = sorted({k[0] for k in groups})
    steps = sorted({k[1] for k in groups})
    low, high = positive_range
    fig, axes = new_figure(figsize=(10, 2.8 * len(steps)), nrows=len(steps), ncols=2, squeeze=False)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(sizes)))
    for r, step in enumerate(steps):
        for c, centre in enumerate((low, high)):
            ax = axes[r, c]
            for colour, size in zip(colours, sizes, strict=False):
                runs = groups.get((size, step))
                if not runs:
                    continue
                angle = signed_angle(runs[0]["angle"].values)
                values = np.stack([s["angle_likelihood"].values for s in runs])
                keep = np.abs(angle - centre) <= window
                order = np.argsort(angle[keep])
                x = angle[keep][order]
                mean = np.nanmean(values[:, keep], axis=0)[order]
                ax.plot(x, mean, color=colour, label=f"D={size}", lw=1.2)
                if len(runs) > 1:
                    ax.fill_between(
                        x,
                        np.nanmin(values[:, keep], 0)[order],
                        np.nanmax(values[:, keep], 0)[order],
                        color=colour,
                        alpha=0.2,
                    )
            ax.axvline(centre, color="k", ls=":", lw=0.8)
            ax.set_title(f"step {step}°, around α = {centre:g}°", fontsize=9)
            ax.set_xlabel("angle α (°)")
            ax.set_ylabel("Adv_cnt / (n_α D²)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Fig. 4: adversarial likelihood against angle (mean over seeds, band = min–max)")
    fig.tight_layout()
    return fig


def boundary_segments(size: int, length: float, angles_deg):
    """End points (x = col, y = row) of centred lines, for the heatmap's X."""
    centre = (size - 1) / 2
    for angle in angles_deg:
        t = np.deg2rad(angle)
        dx, dy = np.cos(t) * length / 2, -np.sin(t) * length / 2
        yield (centre - dx, centre + dx), (centre - dy, centre + dy)


def draw_heatmap(fig, ax, runs, size: int, dataset_cfg: dict, title: str) -> None:
    """One Fig. 5 panel: per-pixel likelihood over the runs' images and seeds, the boundary lines as an X."""
    heat = np.mean([s["pixel_adversarial"].values / s.attrs["n_images"] for s in runs], axis=0)
    im = ax.imshow(heat, cmap="inferno", interpolation="nearest")
    length = size - dataset_cfg["length_max_margin"]
    for xs, ys in boundary_segments(size, length, dataset_cfg["positive_range_deg"]):
        ax.plot(xs, ys, color="cyan", lw=0.8, alpha=0.8)
    ax.set_title(f"{title}, max {heat.max():.2e}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def fig5_heatmaps(groups: dict, dataset_cfg: dict):
    """Per (D, step): the likelihood that flipping each pixel is adversarial, over images and seeds."""
    sizes = sorted({k[0] for k in groups})
    steps = sorted({k[1] for k in groups})
    low, high = dataset_cfg["positive_range_deg"]
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
            draw_heatmap(fig, ax, runs, size, dataset_cfg, f"D={size}, step {step}°")
    fig.suptitle(
        f"Fig. 5: likelihood that flipping a pixel is adversarial (lines: α = {low:g}° and {high:g}°)"
    )
    fig.tight_layout()
    return fig


def redundancy(n_images: int, size: int) -> float:
    """Bits of the generation manifold per image bit: log2(N) / D²."""
    return float(np.log2(n_images) / size**2)


def fig6_redundancy(groups: dict, step_unit: str = "°", title: str = "Fig. 6"):
    """Adversarial rate against the manifold's redundancy log2(N) / D², mean ± sd over seeds."""
    fig, ax = new_figure(figsize=(6, 4.2))
    steps = sorted({k[1] for k in groups})
    markers = dict(zip(steps, "os^Dv<>", strict=False))
    for (size, step), runs in sorted(groups.items()):
        rates = np.array([s.attrs["adversarial_rate"] for s in runs])
        x = redundancy(runs[0].attrs["n_images"], size)
        ax.errorbar(
            x,
            rates.mean(),
            yerr=rates.std(ddof=1) if len(rates) > 1 else None,
            marker=markers[step],
            color=size_colour(size),
            capsize=3,
            label=f"step {step}{step_unit}" if size == min(k[0] for k in groups) else None,
        )
        ax.annotate(f"{size}", (x, rates.mean()), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    label_log_axis(ax.xaxis)
    ax.set_xlabel("redundancy log2(N) / D² (manifold bits per image pixel)")
    ax.set_ylabel("adversarial rate ADV / (N D²)")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: adversarial rate against redundancy (mean ± sd over seeds)", fontsize=9)
    return fig
