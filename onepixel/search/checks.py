"""``flip_search``'s argument checks: one ValueError each, before any work (as ART's attacks do)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from onepixel.search.images import PixelValues
from onepixel.search.progress import check_progress

METHODS = ("auto", "fast", "plain")


def _whole(name: str, value, smallest: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < smallest:
        raise ValueError(f"{name}={value!r}; use a whole number >= {smallest}")


def check_classes(name: str, classes, n_images: int, n_classes: int) -> np.ndarray | None:
    """Class indices (labels or targets): one per image, integers in [0, n_classes)."""
    if classes is None:
        return None
    array = np.asarray(classes)
    if array.shape != (n_images,) or array.dtype.kind not in "iub":
        raise ValueError(
            f"{name}: expected {n_images} integer class indices, got {array.shape} {array.dtype}"
        )
    if (array < 0).any():
        raise ValueError(f"{name}: class indices must be >= 0")
    if n_images and array.max() >= n_classes:
        raise ValueError(f"{name}: class {int(array.max())} but the model has {n_classes} outputs")
    return array.astype(np.int64)


def check_targets(targets: np.ndarray | None, labels: np.ndarray | None) -> None:
    """A target equal to the image's label asks nothing of the attack."""
    if targets is None or labels is None:
        return
    same = np.flatnonzero(targets == labels)
    if same.size:
        raise ValueError(
            f"targets: {same.size} images have their label as target (first: image {int(same[0])}); "
            "give each image a class other than its label"
        )


def check_search_params(method, recheck_below, chunk_candidates, chunk_images, out, progress) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r}; use one of {METHODS}")
    if isinstance(recheck_below, bool) or not isinstance(recheck_below, int | float) or recheck_below < 0:
        raise ValueError(f"recheck_below={recheck_below!r}; use a number >= 0 (0 turns the re-check off)")
    _whole("chunk_candidates", chunk_candidates)
    if chunk_images is not None:
        _whole("chunk_images", chunk_images)
    if out is not None:
        if not isinstance(out, str | os.PathLike) or not os.fspath(out).endswith(".nc"):
            raise ValueError(f"out={out!r}; use a path ending in .nc (the cube is written there as NetCDF)")
        parent = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(parent):
            raise ValueError(f"out={os.fspath(out)!r}: folder {parent} does not exist; create it first")
    check_progress(progress)


def check_model_fits(model, images: np.ndarray, values: PixelValues, method: str) -> None:
    """An onepixel.CNN's input size and channels against the images."""
    if method == "fast" and model.cnn is None:
        raise ValueError(
            "method='fast' needs an onepixel.CNN (its geometry comes from the Architecture); "
            "use method='plain' or 'auto' for other models"
        )
    if model.cnn is None:
        return
    size = model.cnn.arch.size
    if images.shape[1:3] != (size, size):
        raise ValueError(f"images: shape {images.shape[1:3]} but the CNN expects {size}x{size}")
    kernel = model.params.get("Conv_0", {}).get("kernel") if isinstance(model.params, Mapping) else None
    if kernel is not None and np.shape(kernel)[2] != max(values.channels, 1):
        raise ValueError(
            f"images: {max(values.channels, 1)} channel(s) but the CNN's first convolution takes "
            f"{np.shape(kernel)[2]}"
        )


def check_lands_on(lands_on, shape: tuple[int, ...]) -> np.ndarray | None:
    """(N, H, W) (or (N, K, H, W) with corners) integer indices, -1 for no valid image."""
    if lands_on is None:
        return None
    array = np.asarray(lands_on)
    if array.shape != shape or array.dtype.kind not in "iu":
        raise ValueError(
            f"lands_on: expected integer indices of shape {shape}, got {array.shape} {array.dtype}"
        )
    if array.size and array.min() < -1:
        raise ValueError("lands_on: indices must be >= -1 (-1: the change yields no valid image)")
    return array


def check_image_coords(image_coords, n_images: int) -> dict:
    if image_coords is None:
        return {}
    if not isinstance(image_coords, Mapping):
        raise ValueError(
            f"image_coords: expected a mapping name -> (N,) values, got {type(image_coords).__name__}"
        )
    for name, values in image_coords.items():
        if not isinstance(name, str) or np.shape(values) != (n_images,):
            raise ValueError(
                f"image_coords[{name!r}]: expected {n_images} values (one per image), "
                f"got shape {np.shape(values)}"
            )
    return dict(image_coords)
