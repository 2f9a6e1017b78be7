"""The fast search's entry point: every pixel's margin over all images, span position by span position."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict

import numpy as np

from onepixel.models.cnn import Architecture
from onepixel.search.fast.driver import BandSearch
from onepixel.search.fast.kernels import BAND_BYTES
from onepixel.search.fast.stats import FastSearchStats
from onepixel.search.plain import check_finite

log = logging.getLogger("onepixel.search.fast")


def fast_flip_margins(
    arch: Architecture,
    params,
    images: np.ndarray,
    progress_seconds: float = 30.0,
    stats: FastSearchStats | None = None,
    band_bytes: int = BAND_BYTES,
    labels: np.ndarray | None = None,
    new_value=None,
    on_candidates=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Margins (N, D, D) of every single-pixel flip, and the base margins (N,).

    Two classes: logit_1 - logit_0 (``labels`` unused). More classes: the
    label's logit minus the best other logit (``labels`` required).
    Exact up to float rounding (same decisions as the plain search; margins
    within ~1e-5). Callers re-check near-zero margins with a plain forward.
    ``new_value``: see ``BandSearch`` (None: flip binary images).
    ``on_candidates(n)`` is called as each group of n candidates is done.
    """
    if arch.n_classes > 2 and (labels is None or len(labels) != len(images)):
        raise ValueError(f"fast_flip_margins: a {arch.n_classes}-class network needs one label per image")
    stats = stats if stats is not None else FastSearchStats()
    search = BandSearch(arch, params, images, stats, labels, new_value)
    plan, pool, size, n = search.plan, arch.pool, arch.size, len(images)
    # Pixels sharing a span in both axes share the dedup window.
    positions = defaultdict(list)
    for row in np.flatnonzero(plan.reaches):
        for col in np.flatnonzero(plan.reaches):
            positions[(*plan.position(row), *plan.position(col))].append((int(row), int(col)))
    per_chunk = Counter(len(pixels) for pixels in positions.values()).most_common(1)[0][0]

    bytes_per_row = n * search.conv_size * search.channels * 4
    widest = int(plan.span_width.max()) * pool
    band_rows = min(search.conv_size, max(widest, band_bytes // bytes_per_row))
    # If one band holds every row, the base pass fills it; else bands follow.
    search.base_forward(keep_band=band_rows == search.conv_size)
    check_finite(search.base, "unchanged images")
    report = on_candidates or (lambda count: None)

    out = np.empty((n, size, size), np.float32)
    # A flip whose change floor pooling drops everywhere keeps the base margin.
    inert = ~(plan.reaches[:, None] & plan.reaches[None, :])
    out[:, inert] = search.base[:, None]
    stats.candidates += n * int(inert.sum())
    report(n * int(inert.sum()))
    pending = sorted(positions)
    done, last_report, t0 = 0, time.perf_counter(), time.perf_counter()
    while pending:
        # Bands are in order of span rows; each holds every span that fits.
        band_start = min(pending[0][0] * pool, search.conv_size - band_rows)
        if search.band is None or search.band_start != band_start:
            search.last_block_band(band_start, band_rows)
        fits = [(key[0] + key[1]) * pool <= band_start + band_rows for key in pending]
        for key in (key for key, fit in zip(pending, fits, strict=True) if fit):
            search.position(key, positions[key], per_chunk, out)
            report(n * len(positions[key]))
            done += 1
            now = time.perf_counter()
            # With on_candidates the caller reports progress; the last line still says the dedup.
            if (on_candidates is None and now - last_report > progress_seconds) or done == len(positions):
                last_report = now
                rate = stats.candidates / (now - t0)
                log.info(
                    "fast search: %d / %d span positions, %.0f candidates/s, "
                    "%.1fx fewer unique (window, pixel) pairs than candidates, ETA %.0f s",
                    done,
                    len(positions),
                    rate,
                    stats.dedup_factor,
                    (n * size * size - stats.candidates) / rate,
                )
        pending = [key for key, fit in zip(pending, fits, strict=True) if not fit]
    search.band = None
    return out, search.base
