"""The fast search's stages, as methods of one search state: base forward, last-block bands,
window dedup, prefix tables, window changes, candidate margins (the names of its profile)."""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.models.cnn import Architecture
from onepixel.search.fast import kernels
from onepixel.search.fast.kernels import (
    IMAGES_PER_FORWARD,
    IMAGES_PER_MARGIN_STEP,
    PATCHES_PER_PREFIX_CALL,
    WINDOWS_PER_CALL,
    forward_rows,
    label_margins,
    last_change_matrix,
    prefix_changes,
    prefix_outputs,
)
from onepixel.search.fast.keys import PackedImages, ValueImages, unique_keys
from onepixel.search.fast.plan import axis_plan, input_width
from onepixel.search.fast.stats import FastSearchStats, bucket

log = logging.getLogger("onepixel.search.fast")


class BandSearch:
    """State of one fast search: the plan, the base pass and the current band."""

    def __init__(
        self,
        arch: Architecture,
        params,
        images: np.ndarray,
        stats: FastSearchStats,
        labels=None,
        new_value=None,
    ):
        """``new_value``: None flips 0/1 images; else (lo + hi) - pixel for ``("flip", lo + hi)``
        or the corner for ``("set", corner)`` on float32 (N, D, D[, C]) images."""
        self.arch, self.params, self.stats = arch, params, stats
        self.plan = axis_plan(arch)
        if new_value is None:
            self.images = (np.asarray(images) > 0.5).astype(np.uint8)  # binary by construction
            self.packed = PackedImages(self.images)
        else:
            self.images = np.asarray(images, np.float32)
            self.packed = ValueImages(self.images)
        self.new_value = new_value
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
        channels = self.images.shape[3:]
        strips = np.zeros((-(-n // chunk) * chunk, strip, self.arch.size, *channels), self.images.dtype)
        strips[:n] = self.images[:, strip_start : strip_start + strip]
        strips = strips.reshape(-1, chunk, strip, self.arch.size, *channels)
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

    def base_forward(self, keep_band: bool) -> None:
        """Stage "base forward": every image's Dense pre-activation and base margin (and the
        last conv's pre-activation of every row when one band holds them all)."""
        self.forward(0, self.conv_size, keep_band=keep_band, dense=True)

    def last_block_band(self, first_row: int, rows: int) -> None:
        """Stage "last-block bands": the last conv's base pre-activation of rows [first_row, +rows)."""
        self.forward(first_row, rows, keep_band=True, dense=False)

    def changed(self, pixels: np.ndarray) -> np.ndarray:
        """The values the search gives these pixels: flipped, or set to the corner."""
        if self.new_value is None:
            return 1 - pixels
        how, value = self.new_value
        return value - pixels if how == "flip" else np.broadcast_to(value, pixels.shape)

    def zeros(self, rows: int, pixels: int) -> jax.Array:
        if (rows, pixels) not in self._zeros:
            self._zeros[rows, pixels] = jnp.zeros((rows, pixels, self.units), jnp.float32)
        return self._zeros[rows, pixels]

    def prefix_tables(self, chunk, reps: np.ndarray, per_chunk: int, span: tuple[int, int]):
        """Tabulated last-conv changes of each chunk pixel's unique fields, placed on the span.

        Returns the table (T, span rows, span cols, C) and, per pixel and
        window, its row in the table. Stage "prefix tables".
        """
        started = time.perf_counter()
        plan, width = self.plan, self.plan.patch_width
        index = np.zeros((per_chunk, len(reps)), np.int32)
        flipped, original_of, placements, offset = [], [], [], 0
        # Pixels of a chunk often share a patch start: dedup its patches and
        # run the prefix on them once.
        shared, fields, originals, n_originals = {}, {}, [], 0
        for j, (row, col) in enumerate(chunk):
            top, left = plan.patch_start[row], plan.patch_start[col]
            if (top, left) not in shared:
                first, inverse = unique_keys(self.packed.window_keys(reps, top, left, width, width))
                patches = self.images[reps[first], top : top + width, left : left + width]
                shared[top, left] = patches, inverse, n_originals, reps[first]
                originals.append(patches)
                n_originals += len(patches)
            patches, inverse, first_original, patch_reps = shared[top, left]
            # The change depends on the pixel's field only (narrower than the
            # patch where the flip reaches fewer cells): one flip per distinct
            # field, found among the patch's distinct contents.
            field = (*plan.field_start[[row, col]], *plan.field_width[[row, col]])
            if field[2:] == (width, width):
                chosen = field_of_patch = np.arange(len(patches))
            else:
                if (top, left, *field) not in fields:
                    fields[top, left, *field] = unique_keys(self.packed.window_keys(patch_reps, *field))
                chosen, field_of_patch = fields[top, left, *field]
            flip = patches[chosen]
            flip[:, row - top, col - left] = self.changed(flip[:, row - top, col - left])
            flipped.append(flip)
            original_of.append(first_original + chosen)
            index[j] = offset + field_of_patch[inverse]
            placements.append((offset, len(chosen), plan.change_offset[row], plan.change_offset[col]))
            offset += len(chosen)
        index[len(chunk) :] = index[0]  # padding pixels repeat the first one
        self.stats.unique_patches += offset
        total, total_originals = bucket(offset, WINDOWS_PER_CALL), bucket(n_originals, WINDOWS_PER_CALL)
        channels = self.images.shape[3:]
        originals_batch = np.zeros((total_originals, width, width, *channels), np.float32)
        originals_batch[:n_originals] = np.concatenate(originals)
        before = prefix_outputs(self.params, originals_batch, self.arch.pool, self.n_prefix)
        flipped, original_of = np.concatenate(flipped), np.concatenate(original_of)
        parts = []
        for start in range(0, offset, PATCHES_PER_PREFIX_CALL):
            count = min(PATCHES_PER_PREFIX_CALL, offset - start)
            rows = min(bucket(count, WINDOWS_PER_CALL), PATCHES_PER_PREFIX_CALL)
            # Padding rows: original 0, unflipped; their change is dropped.
            flipped_rows = np.zeros((rows, width, width, *channels), np.float32)
            flipped_rows[:count] = flipped[start : start + count]
            original_rows = np.zeros(rows, np.int32)
            original_rows[:count] = original_of[start : start + count]
            args = (self.params, before, original_rows, flipped_rows, self.matrix, self.arch.pool)
            parts.append(prefix_changes(*args, self.n_prefix))
        parts = [np.asarray(part) for part in parts]  # views of XLA's buffers, no copy
        table = np.zeros((total, *span, self.channels), np.float32)
        full, step = plan.change_width, PATCHES_PER_PREFIX_CALL
        for start, count, drow, dcol in placements:
            # Cells outside the span are outside the map or dropped by pooling.
            r0, r1 = max(0, -drow), min(full, span[0] - drow)
            c0, c1 = max(0, -dcol), min(full, span[1] - dcol)
            if r0 >= r1 or c0 >= c1:
                continue
            # A pixel's patches may run over the end of one call's rows into the next.
            for first in range(start - start % step, start + count, step):
                lo, hi = max(start, first), min(start + count, first + step)
                table[lo:hi, r0 + drow : r1 + drow, c0 + dcol : c1 + dcol] = parts[first // step][
                    lo - first : hi - first, r0:r1, c0:c1
                ]
        table = self.stats.wait(jax.device_put(table))
        self.stats.seconds_tables += time.perf_counter() - started
        return table, index

    def window_dedup(self, pixels) -> tuple[np.ndarray, jax.Array, int, int]:
        """Stage "window dedup": the unique input windows of these pixels' span over all images."""
        started = time.perf_counter()
        plan, n = self.plan, len(self.images)
        first_row, first_col = pixels[0]
        top, bottom = plan.window_start[first_row], plan.window_stop[first_row]
        left, right = plan.window_start[first_col], plan.window_stop[first_col]
        reps, window_of_image = unique_keys(
            self.packed.window_keys(None, top, left, bottom - top, right - left)
        )
        n_windows = len(reps)
        padded = bucket(n_windows, WINDOWS_PER_CALL)
        reps = np.pad(reps, (0, padded - n_windows)).astype(np.int32)
        window_of_image = jax.device_put(np.pad(window_of_image, (0, self.n_padded - n)))
        self.stats.seconds_dedup += time.perf_counter() - started
        return reps, window_of_image, n_windows, padded

    def window_changes(self, reps, n_windows, padded, origin, table, table_index, dense_rows, per_chunk):
        """Stage "window changes": the Dense pre-activation change per (unique window, pixel)."""
        # Calls are dispatched without waiting: XLA computes while Python
        # prepares the next ones; the candidate margins are the one sync point.
        started = time.perf_counter()
        parts = [
            kernels.window_changes(
                self.band,
                reps[start : start + WINDOWS_PER_CALL],  # numpy: jit's fast transfer path
                *origin,
                table,
                table_index[:, start : start + WINDOWS_PER_CALL],
                dense_rows,
                self.arch.pool,
            )
            for start in range(0, n_windows, WINDOWS_PER_CALL)
        ]
        missing = padded - len(parts) * WINDOWS_PER_CALL
        if missing:
            parts.append(self.zeros(missing, per_chunk))
        changes = self.stats.wait(jnp.concatenate(parts) if len(parts) > 1 else parts[0])
        self.stats.seconds_changes += time.perf_counter() - started
        return changes

    def candidate_margins(self, changes, window_of_image, chunk, out: np.ndarray) -> None:
        """Stage "candidate margins": every image's margin for these pixels, into ``out``."""
        started = time.perf_counter()
        if self.labels is None:
            margins = kernels.candidate_margins(
                self.h_base, changes, window_of_image, self.w_margin, self.b_margin
            )
        else:
            margins = kernels.candidate_label_margins(
                self.h_base, changes, window_of_image, self.w_out, self.b_out, self.labels_padded
            )
        rows, cols = zip(*chunk, strict=True)
        out[:, rows, cols] = np.asarray(margins)[: len(self.images), : len(chunk)]
        self.stats.seconds_margins += time.perf_counter() - started

    def position(self, key, pixels, per_chunk: int, out: np.ndarray) -> None:
        """Margins of every pixel sharing one span (hence one dedup window)."""
        pool = self.arch.pool
        span_row, span_rows, span_col, span_cols = key
        reps, window_of_image, n_windows, padded = self.window_dedup(pixels)
        span = (span_rows * pool, span_cols * pool)
        block = self.dense_kernel[span_row : span_row + span_rows, span_col : span_col + span_cols]
        dense_rows = jax.device_put(block.reshape(-1, self.units))
        origin = (span_row * pool - self.band_start, span_col * pool)
        for chunk_start in range(0, len(pixels), per_chunk):
            chunk = pixels[chunk_start : chunk_start + per_chunk]
            table, table_index = self.prefix_tables(chunk, reps[:n_windows], per_chunk, span)
            table_index = np.pad(table_index, ((0, 0), (0, padded - n_windows)))
            changes = self.window_changes(
                reps, n_windows, padded, origin, table, table_index, dense_rows, per_chunk
            )
            self.candidate_margins(changes, window_of_image, chunk, out)
            self.stats.unique_pairs += n_windows * len(chunk)
            self.stats.candidates += len(self.images) * len(chunk)
