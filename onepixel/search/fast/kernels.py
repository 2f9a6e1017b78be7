"""The jitted kernels of the fast search: prefix tables, last-block window changes, candidate margins."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from onepixel.models.cnn import Architecture, conv, max_pool_floor

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
# Flipped patches per call of the prefix tables: a fixed size (and powers of
# two below it for the last rows), so a table's rows are not padded to the
# next power of two, and the prefix's conv maps of a call stay small.
PATCHES_PER_PREFIX_CALL = 8192
# Images per call of the base pass (its first conv map is the largest buffer).
IMAGES_PER_FORWARD = 256


def conv_stack(params, x: jax.Array, pool: int, n_blocks: int):
    """Pre-activations and pooled outputs of the first ``n_blocks`` conv blocks; x: (B, H, W[, C])."""
    pre, pooled = [], []
    h = x[..., None] if x.ndim == 3 else x
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
def prefix_outputs(params, patches, pool: int, n_prefix: int):
    """The prefix blocks' pooled output (the last block's input) of each patch."""
    return conv_stack(params, patches, pool, n_prefix)[1][-1] if n_prefix else patches


@partial(jax.jit, static_argnames=("pool", "n_prefix"))
def prefix_changes(params, before, original_of, flipped, matrix, pool: int, n_prefix: int):
    """Last-block pre-activation change (M, c, c, C) of each flipped patch.

    ``flipped[m]`` is patch ``original_of[m]`` with one pixel flipped;
    ``before`` the originals' ``prefix_outputs`` (pixels of a chunk share
    them). The pooled difference is the delta of the last block's input
    (exactly zero on cells the flipped pixel does not feed).
    """
    delta = prefix_outputs(params, flipped, pool, n_prefix) - before[original_of]
    width = math.isqrt(matrix.shape[1] // params[f"Conv_{n_prefix}"]["kernel"].shape[-1])
    return (delta.reshape(len(flipped), -1) @ matrix).reshape(len(flipped), width, width, -1)


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
