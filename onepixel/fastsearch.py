"""Exact exhaustive flip search: incremental, deduplicated, tabulated.

Flipping one pixel changes the first conv output only in a k x k window, so
only a few pooled cells of each block, and the Dense pre-activation only by
(new - old pooled cells of the last block) times the matching rows of the
Dense kernel. The search splits that change in two parts:

1. *Prefix table.* The conv blocks before the last one turn the flip into a
   small fixed-size delta of the last block's input (the pooled cells the
   flip reaches), which depends only on a small input *patch* around the
   pixel (6 x 6 for the paper's net). Its effect on the last conv's
   pre-activation (a fixed matrix product) is tabulated once per unique patch.
2. *Last block and Dense.* Per unique input *window* feeding the last block's
   reachable cells, the base pre-activation of those cells is read from a
   band of the full images' forward pass, the table entry is added, and
   ``pool(relu(z + change)) - pool(relu(z))`` times the Dense rows gives the
   change of the Dense pre-activation. Far from the line windows repeat, so
   this runs once per unique (window, pixel) pair, not per candidate.

Every candidate then only pays ``relu(h_base + change) . w_margin``.

All sizes and offsets come from the layer specification (kernel, pool,
number of blocks, image size) in ``axis_plan``; the plain search in
``onepixel.search`` is the reference this module is tested against.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.model import Architecture, conv, max_pool_floor

log = logging.getLogger(__name__)

# Unique windows per jitted call of the last-block step: fixed, so calls
# compile once per span shape and table size (tables round up to powers of
# two times this).
WINDOWS_PER_CALL = 256
# Images per step of the per-candidate loop: each step's (images, pixels,
# units) sum stays in cache; one broadcast over all N images was 9x slower.
IMAGES_PER_MARGIN_STEP = 256
# Memory for one band of the last conv block's base pre-activations (all
# images, a range of rows); bands overlap by a span, so larger is cheaper.
BAND_BYTES = 2 << 30
# Images per call of the base pass (its first conv map is the largest buffer).
IMAGES_PER_FORWARD = 256


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
    window_stop = np.zeros(size, np.int64)
    for pixel in np.flatnonzero(reaches):
        first_input = min(prefix[pixel][0], prev_size - region)
        lo, hi = last[pixel]
        width = widest if hi - lo + 1 == widest else max(widest - 1, 1)
        start = min(lo, last_pooled - width)
        patch_start[pixel] = first_input * scale
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


def conv_stack(params, x: jax.Array, pool: int, n_blocks: int):
    """Pre-activations and pooled outputs of the first ``n_blocks`` conv blocks; x: (B, H, W)."""
    pre, pooled = [], []
    h = x[..., None]
    for block in range(n_blocks):
        layer = params[f"Conv_{block}"]
        z = conv(h, layer["kernel"], "VALID") + layer["bias"]
        h = max_pool_floor(jax.nn.relu(z), pool, for_gradient=False)
        pre.append(z)
        pooled.append(h)
    return pre, pooled


def last_change_matrix(params, arch: Architecture, region: int) -> jax.Array:
    """The last conv's bias-free response to a region x region delta, as one matrix.

    Row i is the full (padded by k - 1) correlation of the i-th basis delta,
    so ``delta.ravel() @ matrix`` is the change of the last pre-activation on
    the (region + k - 1)^2 conv cells the delta reaches.
    """
    k = arch.kernel
    kernel = params[f"Conv_{len(arch.conv_channels) - 1}"]["kernel"]
    c_in = kernel.shape[2]
    basis = jnp.eye(region * region * c_in, dtype=jnp.float32).reshape(-1, region, region, c_in)
    full = conv(basis, kernel, [(k - 1, k - 1), (k - 1, k - 1)])
    return full.reshape(full.shape[0], -1)


@partial(jax.jit, static_argnames=("pool", "n_prefix"))
def prefix_changes(params, patches, flipped, matrix, pool: int, n_prefix: int):
    """Last-block pre-activation change (M, c, c, C) of each flipped patch.

    The prefix blocks run on the patch and on its flipped copy; their pooled
    difference is the delta of the last block's input (exactly zero on cells
    the flipped pixel does not feed).
    """
    if n_prefix:
        _, pooled = conv_stack(params, jnp.concatenate([patches, flipped]), pool, n_prefix)
        before, after = jnp.split(pooled[-1], 2)
        delta = after - before
    else:
        delta = flipped - patches
    width = math.isqrt(matrix.shape[1] // params[f"Conv_{n_prefix}"]["kernel"].shape[-1])
    return (delta.reshape(len(patches), -1) @ matrix).reshape(len(patches), width, width, -1)


@partial(jax.jit, static_argnames=("pool",))
def window_changes(band, reps, row, col, table, table_index, dense_rows, pool: int):
    """(U, P, units) Dense pre-activation changes of U windows x P pixels.

    ``band[reps[u], row:, col:]`` is window u's base pre-activation of the
    last conv on the span; ``table[table_index[j, u]]`` pixel j's change there.
    """
    span_rows, span_cols, channels = table.shape[1:]

    def base_span(image):
        return jax.lax.dynamic_slice(band, (image, row, col, 0), (1, span_rows, span_cols, channels))[0]

    z = jax.vmap(base_span)(reps)
    # relu(max(.)) = max(relu(.)): one ReLU per pooled cell instead of per conv cell.
    old = jax.nn.relu(max_pool_floor(z, pool, for_gradient=False))
    new = jax.nn.relu(max_pool_floor(z + table[table_index], pool, for_gradient=False))
    delta = (new - old).reshape(*table_index.shape, -1)
    return jnp.swapaxes(delta @ dense_rows, 0, 1)


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


def label_margins(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """(..., C) logits, (...) labels -> label logit minus the best other logit."""
    own = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    is_label = jnp.arange(logits.shape[-1]) == labels[..., None]
    return own - jnp.where(is_label, -jnp.inf, logits).max(axis=-1)


@jax.jit
def candidate_label_margins(h_base, changes, window_of_image, w_out, b_out, labels):
    """(N, P) margins for C > 2 classes: the label's logit minus the best other logit."""
    n, units = h_base.shape

    def step(chunk):
        h, window, label = chunk
        logits = jax.nn.relu(h[:, None, :] + changes[window]) @ w_out + b_out
        return label_margins(logits, jnp.broadcast_to(label[:, None], logits.shape[:2]))

    chunks = (
        h_base.reshape(-1, IMAGES_PER_MARGIN_STEP, units),
        window_of_image.reshape(-1, IMAGES_PER_MARGIN_STEP),
        labels.reshape(-1, IMAGES_PER_MARGIN_STEP),
    )
    return jax.lax.map(step, chunks).reshape(n, -1)


@partial(jax.jit, static_argnames=("pool", "n_blocks", "band", "dense"))
def forward_rows(params, strips, pool: int, n_blocks: int, band: bool, dense: bool):
    """Last conv pre-activation of image strips and/or (whole images) the Dense pre-activation.

    strips: (chunks, IMAGES_PER_FORWARD, rows, cols) binary; one call maps
    over the chunks, so the band is one XLA buffer (no host copy of it).
    """

    def one_chunk(x):
        pre, pooled = conv_stack(params, x.astype(jnp.float32), pool, n_blocks)
        h = None
        if dense:
            kernel, bias = params["Dense_0"]["kernel"], params["Dense_0"]["bias"]
            h = pooled[-1].reshape(len(x), -1) @ kernel + bias
        return (pre[-1] if band else None), h

    z, h = jax.lax.map(one_chunk, strips)
    z = None if z is None else z.reshape(-1, *z.shape[2:])
    h = None if h is None else h.reshape(-1, h.shape[-1])
    return z, h


class PackedImages:
    """Binary images, each row packed in 64-bit words: exact window keys in a few shifts.

    Stored word-major, (words, rows, images), so a window's keys are read as
    contiguous runs over the images.
    """

    def __init__(self, images: np.ndarray):
        n, rows, cols = images.shape
        self.n_words = -(-cols // 64)
        bits = np.zeros((n, rows, self.n_words * 64), bool)
        bits[..., :cols] = images > 0.5
        words = np.packbits(bits, axis=-1, bitorder="little").view("<u8")
        self.words = np.ascontiguousarray(words.transpose(2, 1, 0))

    def window_keys(self, images: np.ndarray | None, row: int, col: int, height: int, width: int):
        """(n, height * ceil(width / 64)) uint64: the window's bits, row by row."""
        rows = self.words[:, row : row + height]
        if images is not None:
            rows = rows[..., images]
        parts = []
        for start in range(col, col + width, 64):
            bits = min(64, col + width - start)
            word, shift = divmod(start, 64)
            part = rows[word] >> np.uint64(shift)
            if shift and word + 1 < self.n_words:
                part = part | (rows[word + 1] << np.uint64(64 - shift))
            if bits < 64:
                part = part & np.uint64((1 << bits) - 1)
            parts.append(part)
        return (np.concatenate(parts) if len(parts) > 1 else parts[0]).T


_HASH_MULTIPLIERS = np.random.default_rng(20261121).integers(1, 2**63, 4096, dtype=np.uint64) | np.uint64(1)


def unique_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First occurrence and inverse index of each distinct row of uint64 ``keys``.

    Rows are hashed to one uint64 for the sort, then the grouping is checked
    exactly; on a hash collision (never seen) whole rows are sorted instead.
    """
    flat = keys[:, 0].copy()
    for column in range(1, keys.shape[1]):
        flat += keys[:, column] * _HASH_MULTIPLIERS[column % len(_HASH_MULTIPLIERS)]
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    if keys.shape[1] > 1 and not np.array_equal(keys[first[inverse]], keys):
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1).astype(np.int32)


def _bucket(n: int, smallest: int) -> int:
    """Round up to a power of two times ``smallest``: few distinct shapes to compile."""
    calls = -(-n // smallest)
    return smallest * (1 << max(calls - 1, 0).bit_length())


@dataclass
class FastSearchStats:
    """Counts and per-stage seconds of a fast search.

    Stages overlap (calls are asynchronous) unless ``synchronize`` is set,
    which waits at every stage boundary: exact per-stage seconds, a slower run.
    """

    synchronize: bool = False
    candidates: int = 0
    unique_pairs: int = 0
    unique_patches: int = 0
    bands: int = 0
    seconds_base: float = 0.0
    seconds_bands: float = 0.0
    seconds_dedup: float = 0.0
    seconds_tables: float = 0.0
    seconds_changes: float = 0.0
    seconds_margins: float = 0.0

    def wait(self, value):
        return jax.block_until_ready(value) if self.synchronize else value

    @property
    def dedup_factor(self) -> float:
        return self.candidates / max(self.unique_pairs, 1)

    def profile(self) -> dict[str, float]:
        return {
            "base forward": self.seconds_base,
            "last-block bands": self.seconds_bands,
            "window dedup": self.seconds_dedup,
            "prefix tables": self.seconds_tables,
            "window changes": self.seconds_changes,
            "candidate margins": self.seconds_margins,
        }


class _Search:
    """State of one fast search: the plan, the base pass and the current band."""

    def __init__(self, arch: Architecture, params, images: np.ndarray, stats: FastSearchStats, labels=None):
        self.arch, self.params, self.stats = arch, params, stats
        self.plan = axis_plan(arch)
        self.images = (np.asarray(images) > 0.5).astype(np.uint8)  # binary by construction
        self.packed = PackedImages(self.images)
        self.n_prefix = len(arch.conv_channels) - 1
        # Conv cells per axis of the last block (its input is the prefix's output).
        self.conv_size = [arch.size, *arch.feature_sizes()][self.n_prefix] - arch.kernel + 1
        self.channels = arch.conv_channels[-1]
        self.matrix = last_change_matrix(params, arch, self.plan.region)
        last_pooled = arch.feature_sizes()[-1]
        self.dense_kernel = np.asarray(params["Dense_0"]["kernel"]).reshape(
            last_pooled, last_pooled, self.channels, -1
        )
        self.units = self.dense_kernel.shape[-1]
        w_out, b_out = params["Dense_1"]["kernel"], params["Dense_1"]["bias"]
        self.w_out, self.b_out = w_out, b_out
        self.w_margin, self.b_margin = w_out[:, 1] - w_out[:, 0], b_out[1] - b_out[0]
        # Two classes: logit_1 - logit_0 (one dot per candidate); more: label margins.
        self.labels = None if arch.n_classes == 2 else np.asarray(labels, np.int32)
        self.n_padded = -(-len(self.images) // IMAGES_PER_MARGIN_STEP) * IMAGES_PER_MARGIN_STEP
        self.labels_padded = None
        if self.labels is not None:
            self.labels_padded = np.zeros(self.n_padded, np.int32)
            self.labels_padded[: len(self.labels)] = self.labels
        self.h_base = self.base = self.band = None
        self.band_start = 0
        self._zeros: dict[tuple[int, int], jax.Array] = {}

    def forward(self, first_row: int, rows: int, keep_band: bool, dense: bool) -> None:
        """One pass over all images: the last conv's base pre-activation on rows
        [first_row, +rows) (kept as the current band) and/or, for whole images,
        the Dense pre-activation and base margins."""
        started = time.perf_counter()
        n, chunk = len(self.images), IMAGES_PER_FORWARD
        strip_start = first_row * self.arch.pool**self.n_prefix
        strip = input_width(self.arch, rows + self.arch.kernel - 1, self.n_prefix)
        self.band = None  # free the previous band first
        strips = np.zeros((-(-n // chunk) * chunk, strip, self.arch.size), np.uint8)
        strips[:n] = self.images[:, strip_start : strip_start + strip]
        strips = strips.reshape(-1, chunk, strip, self.arch.size)
        band, h_base = forward_rows(self.params, strips, self.arch.pool, self.n_prefix + 1, keep_band, dense)
        if keep_band:
            self.band, self.band_start = band, first_row
            self.stats.bands += 1
        if dense:
            # Padding rows carry any values: their margins are dropped.
            self.h_base = h_base[: self.n_padded]
            if self.labels is None:
                self.base = np.asarray(jax.nn.relu(h_base[:n]) @ self.w_margin + self.b_margin)
            else:
                logits = jax.nn.relu(h_base[:n]) @ self.w_out + self.b_out
                self.base = np.asarray(label_margins(logits, jnp.asarray(self.labels)))
            self.stats.seconds_base += time.perf_counter() - started
        else:
            jax.block_until_ready(band)
            self.stats.seconds_bands += time.perf_counter() - started

    def zeros(self, rows: int, pixels: int) -> jax.Array:
        if (rows, pixels) not in self._zeros:
            self._zeros[rows, pixels] = jnp.zeros((rows, pixels, self.units), jnp.float32)
        return self._zeros[rows, pixels]

    def tables(self, chunk, reps: np.ndarray, per_chunk: int, span: tuple[int, int]):
        """Tabulated last-conv changes of each chunk pixel's unique patches, placed on the span.

        Returns the table (T, span rows, span cols, C) and, per pixel and
        window, its row in the table.
        """
        plan, width = self.plan, self.plan.patch_width
        index = np.zeros((per_chunk, len(reps)), np.int32)
        originals, flipped, placements, offset = [], [], [], 0
        shared = {}  # pixels of a chunk often share a patch: dedup it once
        for j, (row, col) in enumerate(chunk):
            top, left = plan.patch_start[row], plan.patch_start[col]
            if (top, left) not in shared:
                first, inverse = unique_keys(self.packed.window_keys(reps, top, left, width, width))
                shared[top, left] = self.images[reps[first], top : top + width, left : left + width], inverse
            patches, inverse = shared[top, left]
            flip = patches.copy()
            flip[:, row - top, col - left] = 1 - flip[:, row - top, col - left]
            originals.append(patches)
            flipped.append(flip)
            index[j] = offset + inverse
            placements.append((offset, len(patches), plan.change_offset[row], plan.change_offset[col]))
            offset += len(patches)
        index[len(chunk) :] = index[0]  # padding pixels repeat the first one
        self.stats.unique_patches += offset
        total = _bucket(offset, WINDOWS_PER_CALL)
        batch = np.zeros((2, total, width, width), np.float32)
        batch[0, :offset] = np.concatenate(originals)
        batch[1, :offset] = np.concatenate(flipped)
        change = np.asarray(
            prefix_changes(self.params, batch[0], batch[1], self.matrix, self.arch.pool, self.n_prefix)
        )
        table = np.zeros((total, *span, self.channels), np.float32)
        full = plan.change_width
        for start, count, drow, dcol in placements:
            # Cells outside the span are outside the map or dropped by pooling.
            r0, r1 = max(0, -drow), min(full, span[0] - drow)
            c0, c1 = max(0, -dcol), min(full, span[1] - dcol)
            if r0 < r1 and c0 < c1:
                table[start : start + count, r0 + drow : r1 + drow, c0 + dcol : c1 + dcol] = change[
                    start : start + count, r0:r1, c0:c1
                ]
        return self.stats.wait(jax.device_put(table)), index

    def position(self, key, pixels, per_chunk: int, out: np.ndarray) -> None:
        """Margins of every pixel sharing one span (hence one dedup window)."""
        plan, stats, pool = self.plan, self.stats, self.arch.pool
        span_row, span_rows, span_col, span_cols = key
        n = len(self.images)
        started = time.perf_counter()
        first_row, first_col = pixels[0]
        top, bottom = plan.window_start[first_row], plan.window_stop[first_row]
        left, right = plan.window_start[first_col], plan.window_stop[first_col]
        reps, window_of_image = unique_keys(
            self.packed.window_keys(None, top, left, bottom - top, right - left)
        )
        n_windows = len(reps)
        padded = _bucket(n_windows, WINDOWS_PER_CALL)
        reps = np.pad(reps, (0, padded - n_windows)).astype(np.int32)
        window_of_image = jax.device_put(np.pad(window_of_image, (0, self.n_padded - n)))
        stats.seconds_dedup += time.perf_counter() - started

        span = (span_rows * pool, span_cols * pool)
        dense_rows = jax.device_put(
            self.dense_kernel[span_row : span_row + span_rows, span_col : span_col + span_cols].reshape(
                -1, self.units
            )
        )
        band_row, band_col = span_row * pool - self.band_start, span_col * pool
        for chunk_start in range(0, len(pixels), per_chunk):
            chunk = pixels[chunk_start : chunk_start + per_chunk]
            started = time.perf_counter()
            table, table_index = self.tables(chunk, reps[:n_windows], per_chunk, span)
            table_index = np.pad(table_index, ((0, 0), (0, padded - n_windows)))
            stats.seconds_tables += time.perf_counter() - started

            # Calls are dispatched without waiting: XLA computes while Python
            # prepares the next ones; the margins below are the one sync point.
            started = time.perf_counter()
            parts = [
                window_changes(
                    self.band,
                    reps[start : start + WINDOWS_PER_CALL],  # numpy: jit's fast transfer path
                    band_row,
                    band_col,
                    table,
                    table_index[:, start : start + WINDOWS_PER_CALL],
                    dense_rows,
                    pool,
                )
                for start in range(0, n_windows, WINDOWS_PER_CALL)
            ]
            missing = padded - len(parts) * WINDOWS_PER_CALL
            if missing:
                parts.append(self.zeros(missing, per_chunk))
            changes = stats.wait(jnp.concatenate(parts) if len(parts) > 1 else parts[0])
            stats.seconds_changes += time.perf_counter() - started

            started = time.perf_counter()
            if self.labels is None:
                margins = candidate_margins(
                    self.h_base, changes, window_of_image, self.w_margin, self.b_margin
                )
            else:
                margins = candidate_label_margins(
                    self.h_base, changes, window_of_image, self.w_out, self.b_out, self.labels_padded
                )
            rows, cols = zip(*chunk, strict=True)
            out[:, rows, cols] = np.asarray(margins)[:n, : len(chunk)]
            stats.seconds_margins += time.perf_counter() - started
            stats.unique_pairs += n_windows * len(chunk)
            stats.candidates += n * len(chunk)


def fast_flip_margins(
    arch: Architecture,
    params,
    images: np.ndarray,
    progress_seconds: float = 30.0,
    stats: FastSearchStats | None = None,
    band_bytes: int = BAND_BYTES,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Margins (N, D, D) of every single-pixel flip, and the base margins (N,).

    Two classes: logit_1 - logit_0 (``labels`` unused). More classes: the
    label's logit minus the best other logit (``labels`` required).
    Exact up to float rounding (same decisions as the plain search; margins
    within ~1e-5). Callers re-check near-zero margins with a plain forward.
    """
    if arch.n_classes > 2 and (labels is None or len(labels) != len(images)):
        raise ValueError(f"fast_flip_margins: a {arch.n_classes}-class network needs one label per image")
    stats = stats if stats is not None else FastSearchStats()
    search = _Search(arch, params, images, stats, labels)
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
    search.forward(0, search.conv_size, keep_band=band_rows == search.conv_size, dense=True)

    out = np.empty((n, size, size), np.float32)
    # A flip whose change floor pooling drops everywhere keeps the base margin.
    inert = ~(plan.reaches[:, None] & plan.reaches[None, :])
    out[:, inert] = search.base[:, None]
    stats.candidates += n * int(inert.sum())
    pending = sorted(positions)
    done, last_report, t0 = 0, time.perf_counter(), time.perf_counter()
    while pending:
        # Bands are in order of span rows; each holds every span that fits.
        band_start = min(pending[0][0] * pool, search.conv_size - band_rows)
        if search.band is None or search.band_start != band_start:
            search.forward(band_start, band_rows, keep_band=True, dense=False)
        fits = [(key[0] + key[1]) * pool <= band_start + band_rows for key in pending]
        for key in (key for key, fit in zip(pending, fits, strict=True) if fit):
            search.position(key, positions[key], per_chunk, out)
            done += 1
            now = time.perf_counter()
            if now - last_report > progress_seconds or done == len(positions):
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
