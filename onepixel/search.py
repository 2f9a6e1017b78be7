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
import xarray as xr

from onepixel.io import annotate, read_netcdf, write_netcdf
from onepixel.model import CNN, Architecture, margin

log = logging.getLogger(__name__)

SEARCH_KIND = "search"
SEARCH_VARIABLES = (
    "margin",
    "adversarial",
    "misclassified",
    "lands_on",
    "on_manifold",
    "base_margin",
    "label",
    "angle",
    "length",
)


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
    return apply_in_chunks(lambda batch: fn(params, batch), images.astype(np.float32)).astype(np.float32)


def base_margins(arch: Architecture, params, images: np.ndarray) -> np.ndarray:
    from onepixel.train import full_set_margins, make_margin_fn

    return full_set_margins(make_margin_fn(arch), params, images.astype(np.float32))


def flip_cube(
    margins: np.ndarray,
    wrong: np.ndarray,
    base_margin: np.ndarray,
    base_wrong: np.ndarray,
    labels: np.ndarray,
    lands_on: np.ndarray,
    coords: dict | None = None,
    attrs: dict | None = None,
) -> xr.Dataset:
    """The flip cube as xarray: (image, row, col), per-image coordinates, counts as attributes.

    A flip is adversarial when the flipped image is classified differently from
    the image's label and is not itself a valid image: a flip onto another valid
    image (possible for even D, where two images of different labels can differ
    in one pixel) is a correct answer of the net, not an attack.
    """
    n, height, width = margins.shape
    wrong = np.asarray(wrong)
    lands_on = lands_on.astype(np.int32, copy=False)
    on_manifold = lands_on >= 0
    # Flips onto a valid image are few: the full cubes are not combined (each
    # temporary is 72 MB at D = 80 step 0.5, and fresh pages are slow to touch).
    on_flat = np.flatnonzero(on_manifold)
    adversarial = wrong.copy()
    adversarial.reshape(-1)[on_flat] = False
    n_adversarial = np.count_nonzero(adversarial.reshape(n, -1), axis=1)
    coords = dict(coords or {})
    image_index = coords.pop("image", np.arange(n))
    ds = xr.Dataset(
        data_vars={
            "margin": (("image", "row", "col"), margins.astype(np.float32, copy=False)),
            "adversarial": (("image", "row", "col"), adversarial),
            "misclassified": (("image", "row", "col"), wrong),
            "lands_on": (("image", "row", "col"), lands_on),
            "on_manifold": (("image", "row", "col"), on_manifold),
            "base_margin": ("image", base_margin.astype(np.float32)),
            "n_adversarial": ("image", n_adversarial.astype(np.int32)),
        },
        coords={
            "image": np.asarray(image_index),
            "row": np.arange(height),
            "col": np.arange(width),
            "label": ("image", np.asarray(labels)),
            **{name: ("image", np.asarray(values)) for name, values in coords.items()},
        },
    )
    meta = {
        "margin": ("logit of the image's label minus the best other logit, after flipping this pixel", "1"),
        "adversarial": (
            "flipped image is classified differently from the image's label and is no valid image",
            "1",
        ),
        "misclassified": ("flipped image is classified differently from the image's label (argmax)", "1"),
        "lands_on": ("index of the valid image the flip yields (-1: none)", "1"),
        "on_manifold": ("the flip yields another valid image (never adversarial)", "1"),
        "base_margin": ("margin of the unflipped image (label logit minus best other)", "1"),
        "n_adversarial": ("number of adversarial pixel flips of this image", "1"),
        "image": ("index of the image", "1"),
        "row": ("flipped pixel row", "px"),
        "col": ("flipped pixel column", "px"),
        "label": ("class of the image the flips are judged against", "1"),
        "angle": ("representative generating angle", "degree"),
        "length": ("representative generating length", "px"),
    }
    annotate(ds, {name: value for name, value in meta.items() if name in ds.variables})
    n_candidates = int(adversarial.size)
    total_adversarial = int(n_adversarial.sum())
    ds.attrs.update(
        attrs or {},
        n_candidates=n_candidates,
        n_adversarial=total_adversarial,
        adversarial_rate=float(total_adversarial / max(n_candidates, 1)),
        n_base_errors=int(np.asarray(base_wrong).sum()),
        n_on_manifold=int(on_flat.size),
        n_on_manifold_misclassified=int(np.count_nonzero(wrong.reshape(-1)[on_flat])),
    )
    return ds


def landing_array(shape, source, row, col, target) -> np.ndarray:
    """(N, H, W) index of the valid image each flip yields, -1 where none, from one-pixel pairs."""
    lands_on = np.full(shape, -1, np.int32)
    lands_on[source, row, col] = target
    return lands_on


def dataset_landing(dataset: xr.Dataset, image_indices: np.ndarray) -> np.ndarray:
    """(N, D, D) dataset index of the dataset image each flip of the chosen images yields, -1 where none."""
    position = np.full(dataset.sizes["image"], -1, np.int64)
    position[image_indices] = np.arange(len(image_indices))
    source = position[dataset["pair_image"].values]
    keep = source >= 0
    shape = (len(image_indices), dataset.sizes["row"], dataset.sizes["col"])
    pairs = (dataset[name].values[keep] for name in ("pair_row", "pair_col", "pair_target"))
    return landing_array(shape, source[keep], *pairs)


def write_search(ds: xr.Dataset, path) -> None:
    write_netcdf(ds, path, SEARCH_KIND)


def read_search(path, lazy: bool = False) -> xr.Dataset:
    return read_netcdf(path, SEARCH_KIND, SEARCH_VARIABLES, lazy=lazy)
