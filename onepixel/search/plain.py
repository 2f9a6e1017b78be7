"""The plain search: every candidate image through the model's full forward pass.

It is the reference the fast search is tested against, the path for models the
fast search does not cover, and the re-check of the fast search's near-zero
margins. JAX models run jitted and vmapped; NumPy, ART and ONNX models get
NumPy batches of the candidate images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.models.inference import apply_in_chunks
from onepixel.search.images import PixelValues


class NonFiniteLogitsError(ValueError):
    """The model gave NaN or inf logits: an exact search has no answer for those candidates."""


def check_finite(values: np.ndarray, what: str) -> None:
    """Stop with one line if any margin (hence logit) is NaN or inf."""
    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:
        raise NonFiniteLogitsError(
            f"model: {bad} of {values.size} {what} gave non-finite logits (NaN or inf); "
            "check the model's weights and inputs: no result is returned for them"
        )


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


def numpy_label_margin(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``label_margin`` in NumPy (for models outside JAX), in float32 like the logits."""
    logits = np.asarray(logits, np.float32)
    rows = np.arange(len(logits))
    own = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return own - others.max(axis=1), np.argmax(logits, axis=1) != labels


def make_label_flip_fn(apply, values: PixelValues):
    """Jitted fn(params, images, labels, image_idx, pixel_idx, corner) -> (margin, wrong) of candidate images.

    ``apply(params, images) -> logits`` for float32 images (batch, H, W[, C]);
    candidate k changes pixel ``pixel_idx[k]`` (row-major) of image
    ``image_idx[k]``: flipped (binary images) or set to ``corner``.
    """
    flip_total = values.lo + values.hi

    def change_one(image, pixel, corner):
        row, col = pixel // image.shape[1], pixel % image.shape[1]
        new = flip_total - image[row, col] if values.binary else corner
        return image.at[row, col].set(new)

    @jax.jit
    def flip_fn(params, images, labels, image_idx, pixel_idx, corner):
        changed = jax.vmap(change_one, in_axes=(0, 0, None))(images[image_idx], pixel_idx, corner)
        return label_margin(apply(params, changed), labels[image_idx])

    return flip_fn


class CandidateMargins:
    """(margin, wrong) of candidates (image, pixel) at one corner, by the model's full forward pass."""

    def __init__(self, model, images: np.ndarray, labels: np.ndarray, values: PixelValues, corner: int = 0):
        self.model, self.values = model, values
        self.width = images.shape[2]
        self.corner = np.float32(0) if values.binary else np.asarray(values.corner_value(corner), np.float32)
        self.labels = np.asarray(labels, np.int32)
        if model.apply is not None:
            self.flip_fn = make_label_flip_fn(model.apply, values)
            self.images = jnp.asarray(images, jnp.float32)
            self.labels_dev = jnp.asarray(self.labels)
        else:
            self.flip_fn = None
            self.images = images.astype(np.float32, copy=False)

    def __call__(self, image_idx: np.ndarray, pixel_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.flip_fn is not None:
            m, w = self.flip_fn(
                self.model.variables, self.images, self.labels_dev, image_idx, pixel_idx, self.corner
            )
            return np.asarray(m), np.asarray(w)
        batch = self.images[image_idx]  # a copy
        rows, cols = pixel_idx // self.width, pixel_idx % self.width
        picked = np.arange(len(batch))
        if self.values.binary:
            batch[picked, rows, cols] = self.values.lo + self.values.hi - batch[picked, rows, cols]
        else:
            batch[picked, rows, cols] = self.corner
        return numpy_label_margin(self.model.predict(batch), self.labels[image_idx])


def plain_label_search(
    model, images, labels, values: PixelValues, corner: int, chunk_candidates: int, on_candidates=None
) -> tuple[np.ndarray, np.ndarray]:
    """(margin, wrong), each (N, H, W), of every candidate at one corner by a full forward pass."""
    n, height, width = images.shape[:3]
    n_pixels = height * width
    total = n * n_pixels
    chunk = chunk_candidates if model.apply is not None else model.batch_size
    margins_of = CandidateMargins(model, images, labels, values, corner)
    margins, wrong = np.empty(total, np.float32), np.empty(total, bool)
    for start in range(0, total, chunk):
        # Fixed-size chunks (the tail padded with candidate 0) compile once.
        candidates = np.arange(start, start + chunk) % total
        if model.apply is None:
            candidates = candidates[: min(chunk, total - start)]
        m, w = margins_of(candidates // n_pixels, candidates % n_pixels)
        stop = min(start + chunk, total)
        margins[start:stop], wrong[start:stop] = m[: stop - start], w[: stop - start]
        if on_candidates is not None:
            on_candidates(stop - start)
    return margins.reshape(n, height, width), wrong.reshape(n, height, width)


NEAR_SLICE = 1 << 22
RECHECK_CHUNK, RECHECK_MIN_CHUNK = 1024, 16


def recheck_labels(
    model,
    images,
    labels,
    margins: np.ndarray,
    wrong: np.ndarray,
    threshold: float,
    values: PixelValues,
    corner=0,
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
    margins_of = CandidateMargins(model, images, labels, values, corner)
    # A power of two up to 1,024: one compile, and a few candidates (most
    # searches have under ten) do not pay for a pass over 1,024 images.
    chunk = min(RECHECK_CHUNK, max(RECHECK_MIN_CHUNK, 1 << (int(near.size) - 1).bit_length()))
    for start in range(0, near.size, chunk):
        part = near[start : start + chunk]
        padded = np.resize(part, chunk)  # fixed shape: one compile
        m, w = margins_of(padded // n_pixels, padded % n_pixels)
        flat_m[part], flat_w[part] = m[: part.size], w[: part.size]
    return int(near.size)


def base_logits(model, images: np.ndarray) -> np.ndarray:
    """Logits (N, n_classes) of the unchanged images, in fixed-size chunks."""
    if model.apply is None:
        floats = images.astype(np.float32, copy=False)
        step = model.batch_size
        logits = [model.predict(floats[start : start + step]) for start in range(0, len(floats), step)]
        return np.concatenate(logits).astype(np.float32)
    fn = jax.jit(model.apply)
    return apply_in_chunks(lambda batch: fn(model.variables, batch), images).astype(np.float32)
