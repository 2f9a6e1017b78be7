"""The plain search: every flipped image through the model's full forward pass.

It is the reference the fast search is tested against, the path for models the
fast search does not cover, and the re-check of the fast search's near-zero margins.
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.models.inference import apply_in_chunks

log = logging.getLogger(__name__)


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
    fn = jax.jit(apply)
    return apply_in_chunks(lambda batch: fn(params, batch), images).astype(np.float32)
