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
from onepixel.model import Architecture, OnePixelCNN, margin
from onepixel.provenance import provenance_attrs

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
    model = OnePixelCNN(arch)
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
    """Margins (N, D, D) of every single-pixel flip, by full forward passes."""
    n, size = len(images), arch.size
    n_pixels = size * size
    total = n * n_pixels
    flip_margins = make_plain_flip_fn(arch)
    images_dev = jnp.asarray(images, jnp.float32)
    out = np.empty(total, np.float32)
    started = last_report = time.perf_counter()
    for start in range(0, total, chunk_candidates):
        # Fixed-size chunks (the tail padded with candidate 0) compile once.
        candidates = np.arange(start, start + chunk_candidates) % total
        chunk = flip_margins(params, images_dev, candidates // n_pixels, candidates % n_pixels)
        stop = min(start + chunk_candidates, total)
        out[start:stop] = np.asarray(chunk)[: stop - start]
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
    return out.reshape(n, size, size)


def recheck_near_zero(
    arch: Architecture, params, images: np.ndarray, margins: np.ndarray, threshold: float
) -> int:
    """Replace margins with |margin| < threshold by plain forward passes, in place.

    The fast search sums the same terms in another order, so a margin within
    float rounding of 0 could flip sign; the plain pass is the reference.
    Returns how many candidates were re-checked.
    """
    flat = margins.reshape(-1)
    near = np.flatnonzero(np.abs(flat) < threshold)
    if near.size == 0:
        return 0
    n_pixels = arch.size * arch.size
    flip_margins = make_plain_flip_fn(arch)
    images_dev = jnp.asarray(images, jnp.float32)
    chunk = 1024
    for start in range(0, near.size, chunk):
        part = near[start : start + chunk]
        padded = np.resize(part, chunk)  # fixed shape: one compile
        values = np.asarray(flip_margins(params, images_dev, padded // n_pixels, padded % n_pixels))
        flat[part] = values[: part.size]
    return int(near.size)


def flip_margins(
    arch: Architecture, params, images: np.ndarray, search_cfg: dict
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Margins (N, D, D) of every flip and base margins (N,), by the configured method.

    Returns also what was done (method used, candidates re-checked, timings).
    """
    from onepixel.fastsearch import FastSearchStats, fast_flip_margins, fast_path_problem

    method = search_cfg["method"]
    info: dict = {"search_method": method}
    if method == "fast":
        problem = fast_path_problem(arch, params)
        if problem is not None:
            log.warning("fast search does not cover this network (%s): using the plain search", problem)
            method = "plain"
    started = time.perf_counter()
    if method == "fast":
        stats = FastSearchStats()
        margins, base = fast_flip_margins(arch, params, images, stats=stats)
        rechecked = recheck_near_zero(arch, params, images, margins, search_cfg["recheck_below"])
        log.info(
            "re-checked %d candidates with |margin| < %g by a plain forward pass",
            rechecked,
            search_cfg["recheck_below"],
        )
        info.update(
            n_rechecked=rechecked,
            unique_window_pixel_pairs=stats.unique_pairs,
            dedup_factor=stats.dedup_factor,
        )
    else:
        margins = plain_flip_margins(arch, params, images, search_cfg["chunk_candidates"])
        base = base_margins(arch, params, images)
        info["n_rechecked"] = 0
    info.update(search_method_used=method, search_seconds=time.perf_counter() - started)
    return margins, base, info


def base_margins(arch: Architecture, params, images: np.ndarray) -> np.ndarray:
    from onepixel.train import full_set_margins, make_margin_fn

    return full_set_margins(make_margin_fn(arch), params, images.astype(np.float32))


def landing_images(dataset: xr.Dataset, image_indices: np.ndarray) -> np.ndarray:
    """(N, D, D) dataset index of the valid image each flip yields, -1 where none."""
    size = dataset.sizes["row"]
    lands_on = np.full((len(image_indices), size, dataset.sizes["col"]), -1, np.int32)
    position = np.full(dataset.sizes["image"], -1, np.int64)
    position[image_indices] = np.arange(len(image_indices))
    source = position[dataset["pair_image"].values]
    keep = source >= 0
    lands_on[source[keep], dataset["pair_row"].values[keep], dataset["pair_col"].values[keep]] = dataset[
        "pair_target"
    ].values[keep]
    return lands_on


def search_dataset(
    dataset: xr.Dataset,
    image_indices: np.ndarray,
    flip_margins: np.ndarray,
    base: np.ndarray,
    config: dict,
    settings: dict | None = None,
    **attrs,
) -> xr.Dataset:
    """The flip cube as xarray: (image, row, col) with per-image coordinates.

    A flip is adversarial when the flipped image is classified differently from
    the image's label and is not itself an image of the dataset: a flip onto
    another valid image (possible for even D, where two images of different
    labels can differ in one pixel) is a correct answer of the net, not an attack.
    """
    labels = dataset["label"].values[image_indices]
    misclassified = (flip_margins > 0) != labels.astype(bool)[:, None, None]
    lands_on = landing_images(dataset, image_indices)
    on_manifold = lands_on >= 0
    adversarial = misclassified & ~on_manifold
    sub = dataset.isel(image=image_indices)
    ds = xr.Dataset(
        data_vars={
            "margin": (("image", "row", "col"), flip_margins.astype(np.float32)),
            "adversarial": (("image", "row", "col"), adversarial),
            "misclassified": (("image", "row", "col"), misclassified),
            "lands_on": (("image", "row", "col"), lands_on),
            "on_manifold": (("image", "row", "col"), on_manifold),
            "base_margin": ("image", base.astype(np.float32)),
            "n_adversarial": ("image", adversarial.sum(axis=(1, 2)).astype(np.int32)),
        },
        coords={
            "image": sub["image"].values,
            "row": sub["row"].values,
            "col": sub["col"].values,
            "label": ("image", labels),
            "angle": ("image", sub["rep_angle"].values),
            "length": ("image", sub["rep_length"].values),
        },
    )
    meta = {
        "margin": ("logit margin (class 1 minus class 0) after flipping this pixel", "1"),
        "adversarial": (
            "flipped image is classified differently from the image's label and is no image of the dataset",
            "1",
        ),
        "misclassified": ("flipped image is classified differently from the image's label", "1"),
        "lands_on": ("index of the dataset image the flip yields (-1: none)", "1"),
        "on_manifold": ("the flip yields another valid image of the dataset (never adversarial)", "1"),
        "base_margin": ("logit margin of the unflipped image", "1"),
        "n_adversarial": ("number of adversarial pixel flips of this image", "1"),
        "image": ("index of the image in the dataset file", "1"),
        "row": ("flipped pixel row", "px"),
        "col": ("flipped pixel column", "px"),
        "label": ("true class of the image", "1"),
        "angle": ("representative generating angle", "degree"),
        "length": ("representative generating length", "px"),
    }
    annotate(ds, meta)
    n_candidates = int(adversarial.size)
    target_labels = dataset["label"].values[lands_on[on_manifold]]
    ds.attrs.update(
        provenance_attrs(config, settings, **attrs),
        n_candidates=n_candidates,
        n_adversarial=int(adversarial.sum()),
        adversarial_rate=float(adversarial.sum() / max(n_candidates, 1)),
        n_base_errors=int(((base > 0) != labels.astype(bool)).sum()),
        n_on_manifold=int(on_manifold.sum()),
        n_on_manifold_other_label=int(
            (target_labels != np.repeat(labels, on_manifold.sum(axis=(1, 2)))).sum()
        ),
        n_on_manifold_misclassified=int((misclassified & on_manifold).sum()),
    )
    return ds


def write_search(ds: xr.Dataset, path) -> None:
    write_netcdf(ds, path, SEARCH_KIND)


def read_search(path) -> xr.Dataset:
    return read_netcdf(path, SEARCH_KIND, SEARCH_VARIABLES)
