"""The geometry of the fast search, from the layer spec: which cells, patches and windows a flip reaches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onepixel.models.cnn import Architecture


def input_width(arch: Architecture, width: int, blocks: int) -> int:
    """Input pixels feeding ``width`` consecutive pooled cells of block ``blocks - 1``."""
    for _ in range(blocks):
        width = width * arch.pool + arch.kernel - 1
    return width


def _reach(lo: int, hi: int, in_size: int, k: int, p: int) -> tuple[int, int] | None:
    """Pooled cells of one block that changed input cells [lo, hi] reach (None: none).

    Conv cell c reads inputs [c, c + k); floor pooling drops the last
    ``conv_size % p`` conv cells, so a change that only reaches those is lost.
    """
    conv_size = in_size - k + 1
    c_lo, c_hi = max(lo - k + 1, 0), min(hi, conv_size - 1)
    p_lo, p_hi = c_lo // p, min(c_hi // p, conv_size // p - 1)
    return (p_lo, p_hi) if c_lo <= c_hi and p_lo <= p_hi else None


@dataclass(frozen=True)
class AxisPlan:
    """Where each pixel coordinate's change is computed, along one axis.

    Rows and columns share one plan (square images). "Prefix" means the conv
    blocks before the last one; "span" the pooled cells of the last block a
    flip is evaluated on, one of two fixed widths (narrower reaches are
    widened: the extra cells' change is exactly zero).
    """

    reaches: np.ndarray  # bool: the flip changes a pooled cell of the last block
    patch_start: np.ndarray  # input coordinate of the prefix patch
    span_start: np.ndarray  # first pooled cell of the span in the last block
    span_width: np.ndarray  # pooled cells in the span
    change_offset: np.ndarray  # span conv cell of the tabulated change's first cell
    window_start: np.ndarray  # input window the (window, pixel) change depends on:
    window_stop: np.ndarray  # shared by all pixels of a span, the dedup key
    field_start: np.ndarray  # input window the pixel's reached prefix cells depend on:
    field_width: np.ndarray  # inside its patch, the dedup key of its flipped patches
    patch_width: int  # input pixels of a prefix patch
    region: int  # last-block input cells (pooled cells of the prefix) a patch yields
    change_width: int  # last-block conv cells a patch's delta reaches

    def position(self, coord: int) -> tuple[int, int]:
        return int(self.span_start[coord]), int(self.span_width[coord])


def axis_plan(arch: Architecture) -> AxisPlan:
    """Per pixel coordinate: patch, span and dedup window, from the layer spec."""
    k, p, size = arch.kernel, arch.pool, arch.size
    n_prefix = len(arch.conv_channels) - 1
    in_sizes = [size, *arch.feature_sizes()]  # input size of each block, then the output
    prev_size, last_pooled, scale = in_sizes[n_prefix], in_sizes[-1], p**n_prefix

    prefix = []  # reached cells of the last block's input, per pixel (or None)
    for pixel in range(size):
        interval = (pixel, pixel)
        for block in range(n_prefix):
            interval = interval and _reach(*interval, in_sizes[block], k, p)
        prefix.append(interval)
    last = [iv and _reach(*iv, prev_size, k, p) for iv in prefix]
    reaches = np.array([iv is not None for iv in last])
    if not reaches.any():
        raise ValueError(f"no pixel of D={size} reaches the last pooled map")
    region = max(iv[1] - iv[0] + 1 for iv in prefix if iv)
    widest = max(iv[1] - iv[0] + 1 for iv in last if iv)
    if region > prev_size or widest > last_pooled:
        raise ValueError(f"a flip's reach exceeds the feature maps at D={size}")
    change_width = region + k - 1
    patch_width = input_width(arch, region, n_prefix)

    patch_start, span_start, span_width, change_offset, window = (np.zeros(size, np.int64) for _ in range(5))
    window_stop, field_start, field_width = (np.zeros(size, np.int64) for _ in range(3))
    for pixel in np.flatnonzero(reaches):
        first_input = min(prefix[pixel][0], prev_size - region)
        lo, hi = last[pixel]
        width = widest if hi - lo + 1 == widest else max(widest - 1, 1)
        start = min(lo, last_pooled - width)
        patch_start[pixel] = first_input * scale
        # The cells the flip reaches depend on these inputs only: patches that
        # differ elsewhere give the same change.
        field_start[pixel] = prefix[pixel][0] * scale
        field_width[pixel] = input_width(arch, prefix[pixel][1] - prefix[pixel][0] + 1, n_prefix)
        span_start[pixel], span_width[pixel] = start, width
        # The change's conv cells start k - 1 before the patch's first output cell.
        change_offset[pixel] = first_input - k + 1 - start * p
        span_window = (start * p * scale, start * p * scale + input_width(arch, width * p + k - 1, n_prefix))
        window[pixel] = min(span_window[0], patch_start[pixel])
        window_stop[pixel] = max(span_window[1], patch_start[pixel] + patch_width)
    # One window per span position: the union over its pixels.
    for key in {(s, w) for s, w in zip(span_start[reaches], span_width[reaches], strict=True)}:
        members = reaches & (span_start == key[0]) & (span_width == key[1])
        window[members], window_stop[members] = window[members].min(), window_stop[members].max()
    return AxisPlan(
        reaches=reaches,
        patch_start=patch_start,
        span_start=span_start,
        span_width=span_width,
        change_offset=change_offset,
        window_start=window,
        window_stop=window_stop,
        field_start=field_start,
        field_width=field_width,
        patch_width=patch_width,
        region=region,
        change_width=change_width,
    )


def fast_path_problem(arch: Architecture, params) -> str | None:
    """Why the fast path cannot handle this network, or None if it can."""
    expected = {f"Conv_{i}" for i in range(len(arch.conv_channels))} | {"Dense_0", "Dense_1"}
    if set(params) != expected:
        return f"parameter layers {sorted(params)} are not the conv/dense stack it covers"
    try:
        axis_plan(arch)
    except ValueError as error:
        return str(error)
    return None
