"""The images a search takes and what it tries at each pixel: a flip, or every corner of the value box.

Binary images (every value 0 or 1, or ``lo`` or ``hi`` of ``bounds``, one
channel): each pixel is flipped to the other value. Grey and colour images
with value bounds ``(lo, hi)``: each pixel is set to every corner of the value
box (grey: ``lo`` and ``hi``; C channels: the 2^C corners), except the corner
equal to the pixel itself, as foolbox's SinglePixelAttack and the first phase
of CornerSearch do, but over every pixel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelValues:
    """What the search tries at each pixel.

    ``binary``: flip between ``lo`` and ``hi`` (``corners`` is None); else set
    the pixel to each row of ``corners`` (K, C), C = 1 for grey images.
    ``channels``: 0 for (N, H, W) images, else C of (N, H, W, C).
    """

    binary: bool
    lo: float
    hi: float
    channels: int
    corners: np.ndarray | None

    @property
    def n_corners(self) -> int:
        return 1 if self.corners is None else len(self.corners)

    def corner_value(self, corner: int) -> np.ndarray | float:
        """The value set by corner ``corner``: a scalar for grey images, (C,) for colour."""
        value = self.corners[corner]
        return value if self.channels else value[0]


def _is_binary(images: np.ndarray) -> bool:
    """Every value is 0 or 1: for integers from min and max (``np.isin`` took 4-11 s
    on the 72.5 M pixels of D = 80 step 0.5), else by comparison."""
    if images.dtype.kind == "b":
        return True
    if images.dtype.kind in "ui":
        return bool(images.max() <= 1 and (images.dtype.kind == "u" or images.min() >= 0))
    return bool(((images == 0) | (images == 1)).all())


def _as_array(images) -> np.ndarray:
    if isinstance(images, np.ndarray):
        array = images
    else:
        try:
            array = np.asarray(images)
        except ValueError:
            array = np.empty(0, object)
        if hasattr(images, "detach") and hasattr(images, "numpy"):
            raise ValueError("images: a torch tensor; pass images.detach().cpu().numpy()")
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"images: expected numbers in a rectangular (N, H, W) or (N, H, W, C) array, "
            f"got {type(images).__name__} of dtype {array.dtype}"
        )
    return array


def _channels_last(array: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) as grey (N, H, W); channels-first arrays refused with the conversion that works."""
    if array.ndim == 4 and array.shape[1] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        fix = "images[:, 0] (grey)" if array.shape[1] == 1 else "images.transpose(0, 2, 3, 1)"
        raise ValueError(
            f"images: shape {array.shape} looks channels-first (N, C, H, W); pass {fix}: "
            "images are (N, H, W) or channels-last (N, H, W, C)"
        )
    if array.ndim == 4 and array.shape[-1] == 1:
        return array[..., 0]
    if array.ndim not in (3, 4) or 0 in array.shape:
        raise ValueError(
            f"images: expected a numpy array (N, H, W) or (N, H, W, C) with N, H, W >= 1, got {array.shape}"
        )
    return array


def check_bounds(bounds) -> tuple[float, float]:
    try:
        lo, hi = (float(value) for value in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds={bounds!r}; use two numbers (lo, hi), e.g. (0, 1) or (0, 255)") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds={bounds!r}; use finite lo < hi")
    return lo, hi


def prepare_images(images, bounds, model_bounds=None) -> tuple[np.ndarray, PixelValues]:
    """Checked images and what to try at each pixel; one ValueError per problem.

    Binary 0/1 images come back as uint8 (the fast path packs their bits), all
    others as float32 (N, H, W) or (N, H, W, C).
    """
    array = _channels_last(_as_array(images))
    if bounds is None and model_bounds is None:
        if array.ndim == 4:
            raise ValueError(
                f"images: {array.shape[-1]} channels need value bounds; pass bounds=(lo, hi), e.g. (0, 1)"
            )
        if not _is_binary(array):
            raise ValueError(
                "images: values must be 0 or 1 (binary images); binarise them, or pass "
                "bounds=(lo, hi) to set every pixel to lo and to hi (grey values)"
            )
        return array.astype(np.uint8, copy=False), PixelValues(True, 0.0, 1.0, 0, None)
    lo, hi = check_bounds(model_bounds if bounds is None else bounds)
    values = array.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise ValueError("images: values must be finite (NaN or inf found)")
    low, high = float(values.min()), float(values.max())
    if low < lo or high > hi:
        raise ValueError(f"images: values in [{low:g}, {high:g}] lie outside bounds ({lo:g}, {hi:g})")
    channels = array.shape[-1] if array.ndim == 4 else 0
    if channels == 0 and bool(((values == lo) | (values == hi)).all()):
        if (lo, hi) == (0.0, 1.0):
            return array.astype(np.uint8), PixelValues(True, lo, hi, 0, None)
        return values, PixelValues(True, lo, hi, 0, None)
    corners = np.array(list(itertools.product((lo, hi), repeat=max(channels, 1))), np.float32)
    return values, PixelValues(False, lo, hi, channels, corners)


def is_candidate(images: np.ndarray, values: PixelValues) -> np.ndarray | None:
    """(N, K, H, W): the pixel differs from the corner (None for binary: every flip is one)."""
    if values.binary:
        return None
    pixels = images if values.channels else images[..., None]
    return np.stack(
        [(pixels != corner).any(axis=-1) for corner in values.corners],
        axis=1,
    )
