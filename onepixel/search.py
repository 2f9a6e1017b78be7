"""Stage 3: exhaustive one-pixel flip search.

``plain_flip_margins`` is the reference: it flips each pixel of each image and
runs the full forward pass on the flipped image. Faster searches must agree
with it and are tested against it.
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.model import CNN, Architecture, margin

log = logging.getLogger(__name__)


def make_plain_flip_fn(arch: Architecture):
    """Jitted fn(params, images, image_idx, pixel_idx) -> margins of flipped images.

    Each candidate k is image ``image_idx[k]`` with pixel ``pixel_idx[k]``
    (row-major) flipped 0 <-> 1; the batch is vmapped over candidates.
    """
    model = CNN(arch)
    size = arch.size

    def flip_one(image, pixel):
        row, col = pixel // size, pixel % size
        return image.at[row, col].set(1.0 - image[row, col])

    @jax.jit
    def flip_margins(params, images, image_idx, pixel_idx):
        flipped = jax.vmap(flip_one)(images[image_idx], pixel_idx)
        return margin(model.apply({"params": params}, flipped))

    return flip_margins


def plain_flip_margins(
    arch: Architecture,
    params,
    images: np.ndarray,
    chunk_candidates: int = 8192,
    progress_seconds: float = 30.0,
) -> np.ndarray:
    """logit_1 - logit_0 (N, D, D) of every single-pixel flip of a 2-class CNN, by full forward passes.

    The reference the fast search's 2-class output is tested against: the label
    margin for label 1 is exactly logit_1 - logit_0.
    """
    ones = np.ones(len(images), np.int64)
    margins, _ = plain_label_search(
        _cnn_apply(arch), params, images, ones, chunk_candidates, progress_seconds
    )
    return margins


def recheck_near_zero(
    arch: Architecture, params, images: np.ndarray, margins: np.ndarray, threshold: float
) -> int:
    """Replace logit_1 - logit_0 margins with |margin| < threshold by plain forward passes, in place."""
    ones = np.ones(len(images), np.int64)
    wrong = np.zeros(margins.shape, bool)
    return recheck_labels(_cnn_apply(arch), params, images, ones, margins, wrong, threshold)


def _cnn_apply(arch: Architecture):
    model = CNN(arch)
    return lambda params, images: model.apply({"params": params}, images)


def label_margin(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(margin, wrong) per row: the label's logit minus the best other logit, and argmax != label.

    With 2 classes the margin is today's logit_1 - logit_0 for label 1 and its
    negative for label 0. ``wrong`` follows argmax (ties go to the lowest class),
    so a zero margin is wrong exactly when a lower class ties with the label.
    """
    own = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    is_label = jnp.arange(logits.shape[1])[None, :] == labels[:, None]
    best_other = jnp.where(is_label, -jnp.inf, logits).max(axis=1)
    return own - best_other, jnp.argmax(logits, axis=1) != labels


def make_label_flip_fn(apply):
    """Jitted fn(params, images, labels, image_idx, pixel_idx) -> (margin, wrong) of flipped images.

    ``apply(params, images) -> logits`` for float32 images (batch, H, W);
    candidate k flips pixel ``pixel_idx[k]`` (row-major) of image ``image_idx[k]``.
    """

    def flip_one(image, pixel):
        row, col = pixel // image.shape[1], pixel % image.shape[1]
        return image.at[row, col].set(1.0 - image[row, col])

    @jax.jit
    def flip_fn(params, images, labels, image_idx, pixel_idx):
        flipped = jax.vmap(flip_one)(images[image_idx], pixel_idx)
        return label_margin(apply(params, flipped), labels[image_idx])

    return flip_fn


def plain_label_search(
    apply, params, images: np.ndarray, labels: np.ndarray, chunk_candidates: int, progress_seconds=30.0
) -> tuple[np.ndarray, np.ndarray]:
    """(margin, wrong), each (N, H, W), of every flip by a full forward pass of the flipped image."""
    n, height, width = images.shape
    n_pixels = height * width
    total = n * n_pixels
    flip_fn = make_label_flip_fn(apply)
    images_dev, labels_dev = jnp.asarray(images, jnp.float32), jnp.asarray(labels, jnp.int32)
    margins, wrong = np.empty(total, np.float32), np.empty(total, bool)
    started = last_report = time.perf_counter()
    for start in range(0, total, chunk_candidates):
        # Fixed-size chunks (the tail padded with candidate 0) compile once.
        candidates = np.arange(start, start + chunk_candidates) % total
        m, w = flip_fn(params, images_dev, labels_dev, candidates // n_pixels, candidates % n_pixels)
        stop = min(start + chunk_candidates, total)
        margins[start:stop], wrong[start:stop] = np.asarray(m)[: stop - start], np.asarray(w)[: stop - start]
        now = time.perf_counter()
        if now - last_report > progress_seconds or stop == total:
            last_report = now
            rate = stop / (now - started)
            log.info(
                "search: %d / %d candidates (%.1f%%), %.0f candidates/s, ETA %.0f s",
                stop,
                total,
                100 * stop / total,
                rate,
                (total - stop) / rate,
            )
    return margins.reshape(n, height, width), wrong.reshape(n, height, width)


NEAR_SLICE = 1 << 22


def recheck_labels(
    apply, params, images, labels, margins: np.ndarray, wrong: np.ndarray, threshold: float
) -> int:
    """Recompute candidates with |margin| < threshold by the plain forward pass, in place.

    The fast search sums the same terms in another order, so a margin within
    float rounding of 0 could flip sign; the plain pass is the reference.
    Returns how many candidates were re-checked.
    """
    flat_m, flat_w = margins.reshape(-1), wrong.reshape(-1)
    # In slices: |margin| of a whole D = 80 cube would be another 290 MB.
    near = np.concatenate(
        [
            start + np.flatnonzero(np.abs(flat_m[start : start + NEAR_SLICE]) < threshold)
            for start in range(0, flat_m.size, NEAR_SLICE)
        ]
    )
    if near.size == 0:
        return 0
    n_pixels = images.shape[1] * images.shape[2]
    flip_fn = make_label_flip_fn(apply)
    images_dev, labels_dev = jnp.asarray(images, jnp.float32), jnp.asarray(labels, jnp.int32)
    chunk = 1024
    for start in range(0, near.size, chunk):
        part = near[start : start + chunk]
        padded = np.resize(part, chunk)  # fixed shape: one compile
        m, w = flip_fn(params, images_dev, labels_dev, padded // n_pixels, padded % n_pixels)
        flat_m[part], flat_w[part] = np.asarray(m)[: part.size], np.asarray(w)[: part.size]
    return int(near.size)


def base_logits(apply, params, images: np.ndarray) -> np.ndarray:
    """Logits (N, n_classes) of the unflipped images, in fixed-size chunks."""
    from onepixel.train import apply_in_chunks

    fn = jax.jit(apply)
    return apply_in_chunks(lambda batch: fn(params, batch), images).astype(np.float32)


def base_margins(arch: Architecture, params, images: np.ndarray) -> np.ndarray:
    from onepixel.train import full_set_margins, make_margin_fn

    return full_set_margins(make_margin_fn(arch), params, images)
