"""Exact exhaustive flip search: incremental and deduplicated.

Flipping one pixel changes the first conv output only in a k x k window, so
only a few cells after each conv block, and the Dense pre-activation only by
(new - old cells) times the matching rows of the Dense kernel. Per flip we
therefore propagate a small, fixed-size *delta* through the conv blocks,
starting from the unflipped activations:

    conv change   = linear (bias-free) conv of the previous block's delta,
                    a fixed matrix product because the delta region has a
                    fixed size;
    pooled delta  = pool(relu(base conv + change)) - base pooled, on the
                    fixed-size region of pooled cells the flip can reach.

That delta depends only on the pixel position and on the input *window*
feeding the last block's reachable cells. Pixels whose reachable cells start
at the same place share one window; across the N images most windows repeat
(far from the line they are empty), so each unique (window, pixel) change of
the Dense pre-activation is computed once and every candidate only pays
``relu(h_base + change) . w_margin``.

All region sizes, window sizes and offsets are derived from the layer
specification (kernel, pool, number of blocks, image size); see
``FlipGeometry``. The plain search in ``onepixel.search`` is the reference
this module is tested against.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.model import Architecture, conv, max_pool_floor
from onepixel.train import apply_in_chunks

log = logging.getLogger(__name__)

# Pixels per work unit and unique windows per jitted call: fixed, so every
# group compiles to the same shapes.
PIXELS_PER_UNIT = 16
WINDOWS_PER_CALL = 256
# Images per step of the per-candidate loop: each step's (images, pixels,
# units) sum stays in cache; one broadcast over all N images was 9x slower.
IMAGES_PER_MARGIN_STEP = 256


@dataclass(frozen=True)
class FlipGeometry:
    """Per-axis sizes of what one flipped pixel can reach (rows = columns).

    ``region[l]``: pooled cells of block l a flip can change (fixed size);
    ``window``: input pixels feeding the last block's region;
    ``local_pooled[l]``: pooled size of block l computed on the window.
    """

    arch: Architecture
    conv_size: tuple[int, ...]
    pooled_size: tuple[int, ...]
    region: tuple[int, ...]
    window: int
    local_pooled: tuple[int, ...]

    @property
    def n_blocks(self) -> int:
        return len(self.region)


def flip_geometry(arch: Architecture) -> FlipGeometry:
    k, p = arch.kernel, arch.pool
    conv_size, pooled_size, region = [], [], []
    size, affected = arch.size, 1
    for _ in arch.conv_channels:
        conv = size - k + 1
        pooled = conv // p
        # `affected + k - 1` consecutive conv cells span at most this many pool cells.
        reach = min(-(-(affected + k - 2) // p) + 1, pooled)
        conv_size.append(conv)
        pooled_size.append(pooled)
        region.append(reach)
        size, affected = pooled, reach
    # Walk back from the last block's region to the input window it reads.
    local_pooled = [0] * len(region)
    width = region[-1]
    for block in reversed(range(len(region))):
        local_pooled[block] = width
        width = width * p + k - 1
    # Earlier blocks may not need the full nominal region inside the window.
    region = [min(r, w) for r, w in zip(region, local_pooled, strict=True)]
    return FlipGeometry(
        arch=arch,
        conv_size=tuple(conv_size),
        pooled_size=tuple(pooled_size),
        region=tuple(region),
        window=width,
        local_pooled=tuple(local_pooled),
    )


@dataclass(frozen=True)
class AxisPlan:
    """Per pixel coordinate (one axis): where its window starts and its offsets."""

    last_start: np.ndarray  # start of the last block's region, in its pooled map
    window_start: np.ndarray  # input coordinate of the window's first pixel
    local_pixel: np.ndarray  # pixel coordinate inside the window (clipped)
    region_start: np.ndarray  # (n_blocks, D): region start per block, window coords
    change_offset: np.ndarray  # (n_blocks, D): where the conv change lands, canvas coords


def axis_plan(geom: FlipGeometry) -> AxisPlan:
    k, p = geom.arch.kernel, geom.arch.pool
    size = geom.arch.size
    n_blocks = geom.n_blocks
    last_start = np.empty(size, np.int32)
    region_start = np.empty((n_blocks, size), np.int32)
    change_offset = np.empty((n_blocks, size), np.int32)
    local_pixel = np.empty(size, np.int32)
    for pixel in range(size):
        # Forward: the range of pooled cells this pixel can change, per block.
        lo = pixel
        for _ in range(n_blocks):
            lo = max(lo - k + 1, 0) // p
        start = min(lo, geom.pooled_size[-1] - geom.region[-1])
        last_start[pixel] = start
        window_start = start * p**n_blocks
        local = pixel - window_start
        # A pixel outside its window changes nothing there (it only feeds conv
        # cells that floor pooling drops); its change lands in the padding.
        local_pixel[pixel] = min(max(local, 0), geom.window - 1)
        prev_start, prev_width = local, 1
        for block in range(n_blocks):
            width = geom.region[block]
            full = prev_width + k - 1
            first_conv = prev_start - k + 1
            start_b = math.floor(first_conv / p)
            start_b = min(max(start_b, 0), geom.local_pooled[block] - width)
            offset = first_conv - start_b * p
            region_start[block, pixel] = start_b
            change_offset[block, pixel] = min(max(offset, -full), width * p)
            prev_start, prev_width = start_b, width
    return AxisPlan(
        last_start=last_start,
        window_start=last_start * p**n_blocks,
        local_pixel=local_pixel,
        region_start=region_start,
        change_offset=change_offset,
    )


def fast_path_problem(arch: Architecture, params) -> str | None:
    """Why the fast path cannot handle this network, or None if it can."""
    expected = {f"Conv_{i}" for i in range(len(arch.conv_channels))} | {"Dense_0", "Dense_1"}
    if set(params) != expected:
        return f"parameter layers {sorted(params)} are not the conv/dense stack it covers"
    if arch.n_classes != 2:
        return f"{arch.n_classes} output classes (it covers 2)"
    geom = flip_geometry(arch)
    if geom.window > arch.size:
        return f"its window of {geom.window} px exceeds D={arch.size}"
    return None


def conv_stack(params, x: jax.Array, pool: int, n_blocks: int, for_gradient: bool = False):
    """Pre-activations and pooled outputs of every conv block; x: (B, H, W)."""
    pre, pooled = [], []
    h = x[..., None]
    for block in range(n_blocks):
        layer = params[f"Conv_{block}"]
        z = conv(h, layer["kernel"], "VALID") + layer["bias"]
        h = max_pool_floor(jax.nn.relu(z), pool, for_gradient=for_gradient)
        pre.append(z)
        pooled.append(h)
    return pre, pooled


def change_matrices(params, geom: FlipGeometry) -> list[jax.Array]:
    """Per block: the bias-free conv of a fixed-size delta, as one matrix.

    Row i is the full (padded by k - 1) correlation of the i-th basis delta,
    so ``delta.ravel() @ T`` is the change of the conv pre-activation on the
    (width + k - 1)^2 cells the delta reaches.
    """
    k = geom.arch.kernel
    matrices, width = [], 1
    for block in range(geom.n_blocks):
        kernel = params[f"Conv_{block}"]["kernel"]
        c_in = kernel.shape[2]
        basis = jnp.eye(width * width * c_in, dtype=jnp.float32).reshape(-1, width, width, c_in)
        full = conv(basis, kernel, [(k - 1, k - 1), (k - 1, k - 1)])
        matrices.append(full.reshape(full.shape[0], -1))
        width = geom.region[block]
    return matrices


def make_group_fn(geom: FlipGeometry):
    """Jitted fn: unique windows x pixels of one group -> Dense pre-activation changes.

    Windows are the batch dimension and pixels a sequential ``lax.map``, so
    every per-pixel offset is a scalar: slices stay slices (no gathers or
    scatters) and each block's change is one matrix product over the batch.
    """
    k, p = geom.arch.kernel, geom.arch.pool
    n_blocks = geom.n_blocks

    def one_pixel(matrices, dense_rows, windows, pre, pooled, pix):
        row, col, starts_r, starts_c, offs_r, offs_c = pix
        batch = windows.shape[0]
        flipped = jax.lax.dynamic_slice(windows, (0, row, col), (batch, 1, 1))
        delta = (1.0 - 2.0 * flipped)[..., None]
        for block in range(n_blocks):
            width = geom.region[block]
            full = delta.shape[1] + k - 1
            channels = pre[block].shape[-1]
            span = width * p
            change = (delta.reshape(batch, -1) @ matrices[block]).reshape(batch, full, full, channels)
            # Shift the change onto the region: pad, then a scalar-offset slice.
            padded = jnp.pad(change, ((0, 0), (span, span), (span, span), (0, 0)))
            change = jax.lax.dynamic_slice(
                padded,
                (0, span - offs_r[block], span - offs_c[block], 0),
                (batch, span, span, channels),
            )
            z = jax.lax.dynamic_slice(
                pre[block],
                (0, starts_r[block] * p, starts_c[block] * p, 0),
                (batch, span, span, channels),
            )
            new = max_pool_floor(jax.nn.relu(z + change), p, for_gradient=False)
            old = jax.lax.dynamic_slice(
                pooled[block], (0, starts_r[block], starts_c[block], 0), (batch, width, width, channels)
            )
            delta = new - old
        return delta.reshape(batch, -1) @ dense_rows

    @jax.jit
    def group_changes(params, matrices, dense_rows, windows, pixels):
        pre, pooled = conv_stack(params, windows, p, n_blocks)
        per_pixel = jax.lax.map(
            lambda pix: one_pixel(matrices, dense_rows, windows, pre, pooled, pix), pixels
        )
        return jnp.swapaxes(per_pixel, 0, 1)

    return group_changes


@jax.jit
def candidate_margins(h_base, changes, window_of_image, w_margin, b_margin):
    """(N, P) margins: relu(h_base[n] + changes[window_of_image[n], j]) . w + b.

    N must be a multiple of IMAGES_PER_MARGIN_STEP (pad with any rows).
    """
    n, units = h_base.shape

    def step(chunk):
        h, window = chunk
        return jax.nn.relu(h[:, None, :] + changes[window]) @ w_margin + b_margin

    chunks = (
        h_base.reshape(-1, IMAGES_PER_MARGIN_STEP, units),
        window_of_image.reshape(-1, IMAGES_PER_MARGIN_STEP),
    )
    return jax.lax.map(step, chunks).reshape(n, -1)


@partial(jax.jit, static_argnums=(2, 3))
def dense_preactivation(params, images, pool: int, n_blocks: int):
    _, pooled = conv_stack(params, images, pool, n_blocks)
    flat = pooled[-1].reshape(images.shape[0], -1)
    return flat @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]


def base_dense_preactivations(params, images: np.ndarray, arch: Architecture, chunk: int = 256):
    n_blocks = len(arch.conv_channels)
    return apply_in_chunks(
        lambda batch: dense_preactivation(params, jnp.asarray(batch), arch.pool, n_blocks), images, chunk
    )


def unique_windows(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique binary windows and, per image, the index of its window."""
    packed = np.packbits(windows.reshape(len(windows), -1).astype(bool), axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return windows[first], inverse.astype(np.int32)


def _bucket(n: int) -> int:
    """Round up to a power of two times WINDOWS_PER_CALL: few distinct shapes."""
    calls = -(-n // WINDOWS_PER_CALL)
    return WINDOWS_PER_CALL * (1 << max(calls - 1, 0).bit_length())


@dataclass
class FastSearchStats:
    candidates: int = 0
    unique_pairs: int = 0
    groups: int = 0
    seconds_base: float = 0.0
    seconds_changes: float = 0.0
    seconds_margins: float = 0.0
    seconds_dedup: float = 0.0

    @property
    def dedup_factor(self) -> float:
        return self.candidates / max(self.unique_pairs, 1)


def fast_flip_margins(
    arch: Architecture,
    params,
    images: np.ndarray,
    progress_seconds: float = 30.0,
    stats: FastSearchStats | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Margins (N, D, D) of every single-pixel flip, and the base margins (N,).

    Exact up to float rounding (same decisions as the plain search; margins
    within ~1e-5). Callers re-check near-zero margins with a plain forward.
    """
    stats = stats if stats is not None else FastSearchStats()
    geom = flip_geometry(arch)
    plan = axis_plan(geom)
    size, n = arch.size, len(images)
    window = geom.window
    images = np.asarray(images, np.float32)

    started = time.perf_counter()
    h_base = base_dense_preactivations(params, images, arch)
    w_out, b_out = params["Dense_1"]["kernel"], params["Dense_1"]["bias"]
    w_margin, b_margin = w_out[:, 1] - w_out[:, 0], b_out[1] - b_out[0]
    base = np.asarray(jax.nn.relu(h_base) @ w_margin + b_margin)
    n_padded = -(-n // IMAGES_PER_MARGIN_STEP) * IMAGES_PER_MARGIN_STEP
    h_base_dev = jnp.asarray(np.pad(h_base, ((0, n_padded - n), (0, 0))))
    stats.seconds_base += time.perf_counter() - started

    matrices = change_matrices(params, geom)
    dense_kernel = params["Dense_0"]["kernel"]
    last_size, channels = geom.pooled_size[-1], arch.conv_channels[-1]
    dense_kernel = dense_kernel.reshape(last_size, last_size, channels, -1)
    group_changes = make_group_fn(geom)
    width_last = geom.region[-1]

    # Work units: pixels sharing a window start, in fixed-size pixel chunks.
    rows, cols = np.divmod(np.arange(size * size), size)
    group_key = plan.last_start[rows] * last_size + plan.last_start[cols]
    order = np.argsort(group_key, kind="stable")
    units = []
    for key in np.unique(group_key):
        members = order[group_key[order] == key]
        for start in range(0, len(members), PIXELS_PER_UNIT):
            units.append(members[start : start + PIXELS_PER_UNIT])
    stats.groups += len(np.unique(group_key))

    out = np.empty((n, size * size), np.float32)
    last_report = t0 = time.perf_counter()
    cached_key, cached = None, None
    for done, pixels in enumerate(units, 1):
        r0, c0 = rows[pixels[0]], cols[pixels[0]]
        key = (plan.window_start[r0], plan.window_start[c0])
        t = time.perf_counter()
        if key != cached_key:
            wr, wc = key
            cached = unique_windows(images[:, wr : wr + window, wc : wc + window])
            cached_key = key
        uniq, window_of_image = cached
        stats.seconds_dedup += time.perf_counter() - t

        pix_rows, pix_cols = rows[pixels], cols[pixels]
        count = len(pixels)
        # Pad the unit to PIXELS_PER_UNIT with copies of its first pixel.
        pad = np.concatenate([np.arange(count), np.zeros(PIXELS_PER_UNIT - count, np.int64)])
        pix_rows, pix_cols = pix_rows[pad], pix_cols[pad]
        pixel_info = (
            jnp.asarray(plan.local_pixel[pix_rows]),
            jnp.asarray(plan.local_pixel[pix_cols]),
            jnp.asarray(plan.region_start[:, pix_rows].T),
            jnp.asarray(plan.region_start[:, pix_cols].T),
            jnp.asarray(plan.change_offset[:, pix_rows].T),
            jnp.asarray(plan.change_offset[:, pix_cols].T),
        )
        lr, lc = plan.last_start[r0], plan.last_start[c0]
        dense_rows = dense_kernel[lr : lr + width_last, lc : lc + width_last].reshape(
            -1, dense_kernel.shape[-1]
        )

        t = time.perf_counter()
        n_unique = len(uniq)
        padded = _bucket(n_unique)
        changes = np.zeros((padded, PIXELS_PER_UNIT, dense_kernel.shape[-1]), np.float32)
        for start in range(0, n_unique, WINDOWS_PER_CALL):
            batch = np.zeros((WINDOWS_PER_CALL, window, window), np.float32)
            part = uniq[start : start + WINDOWS_PER_CALL]
            batch[: len(part)] = part
            chunk = group_changes(params, matrices, dense_rows, jnp.asarray(batch), pixel_info)
            changes[start : start + len(part)] = np.asarray(chunk)[: len(part)]
        stats.seconds_changes += time.perf_counter() - t

        t = time.perf_counter()
        window_padded = np.pad(window_of_image, (0, n_padded - n))
        margins = candidate_margins(
            h_base_dev, jnp.asarray(changes), jnp.asarray(window_padded), w_margin, b_margin
        )
        out[:, pixels] = np.asarray(margins)[:n, :count]
        stats.seconds_margins += time.perf_counter() - t
        stats.unique_pairs += n_unique * count
        stats.candidates += n * count

        now = time.perf_counter()
        if now - last_report > progress_seconds or done == len(units):
            last_report = now
            rate = stats.candidates / (now - t0)
            log.info(
                "fast search: %d / %d pixel positions, %.0f candidates/s, "
                "%.1fx fewer unique (window, pixel) pairs than candidates, ETA %.0f s",
                stats.candidates // n,
                size * size,
                rate,
                stats.dedup_factor,
                (n * size * size - stats.candidates) / rate,
            )
    return out.reshape(n, size, size), base
