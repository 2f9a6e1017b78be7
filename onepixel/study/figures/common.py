"""What the figures share: a figure without pyplot, colours by D, log-axis labels, saving with provenance."""

from __future__ import annotations

import json
import math

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from onepixel.io import atomic_path
from onepixel.study.provenance import provenance_attrs


def new_figure(**subplots) -> tuple[Figure, object]:
    """A figure and its axes (``Figure.subplots`` arguments, ``figsize`` apart): no pyplot, no backend."""
    fig = Figure(figsize=subplots.pop("figsize", (6.4, 4.8)))
    return fig, fig.subplots(**subplots)


def size_colour(size: int):
    """The colour of image size D, the same in every figure."""
    return matplotlib.colormaps["viridis"](min(size / 96, 0.9))


def power_of_ten_label(x: float, _=None) -> str:
    """1, 2 or 5 times a power of ten, as a math label: ``$2\\times10^{-3}$``."""
    exponent = math.floor(math.log10(x) + 1e-9)
    mantissa = round(x / 10**exponent)
    return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa}\\times10^{{{exponent}}}$"


def label_log_axis(axis) -> None:
    """Labels at 1, 2 and 5 times powers of ten, none at the other minor ticks.

    Matplotlib labels every minor tick of an axis spanning less than about two
    decades, and at figure width those labels run into each other.
    """
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=15))
    axis.set_major_formatter(FuncFormatter(power_of_ten_label))
    axis.set_minor_formatter(NullFormatter())


def save_figure(fig: Figure, png_path, pdf_path, config: dict, title: str) -> None:
    """Write PNG and PDF atomically, with provenance in their metadata."""
    prov = provenance_attrs(config)
    text = json.dumps(
        {
            "config": json.loads(prov["onepixel_config"]),
            "versions": json.loads(prov["onepixel_versions"]),
            "git_commit": prov["onepixel_git_commit"],
        },
        sort_keys=True,
    )
    options = {
        "png": {"dpi": 150, "metadata": {"Title": title, "Software": "onepixel", "Description": text}},
        "pdf": {"metadata": {"Title": title, "Creator": "onepixel", "Subject": text}},
    }
    for kind, path in (("png", png_path), ("pdf", pdf_path)):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind, bbox_inches="tight", **options[kind])
