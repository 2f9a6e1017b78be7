"""Reference computations the tests compare the package against (2-class CNNs, logit_1 - logit_0)."""

from __future__ import annotations

import jax
import numpy as np

from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, margin
from onepixel.models.inference import apply_in_chunks, make_margin_fn
from onepixel.search.images import PixelValues
from onepixel.search.models import SearchModel
from onepixel.search.plain import plain_label_search, recheck_labels
from onepixel.study.inputs import open_dataset, open_search
from onepixel.study.summary import write_summary


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
) -> np.ndarray:
    """logit_1 - logit_0 (N, D, D) of every single-pixel flip of a 2-class CNN, by full forward passes.

    The reference the fast search's 2-class output is tested against: the label
    margin for label 1 is exactly logit_1 - logit_0.
    """
    ones = np.ones(len(images), np.int64)
    margins, _ = plain_label_search(SearchModel(CNN(arch), params), images, ones, BINARY, 0, chunk_candidates)
    return margins


def recheck_near_zero(
    arch: Architecture, params, images: np.ndarray, margins: np.ndarray, threshold: float
) -> int:
    """Replace logit_1 - logit_0 margins with |margin| < threshold by plain forward passes, in place."""
    ones = np.ones(len(images), np.int64)
    wrong = np.zeros(margins.shape, bool)
    return recheck_labels(SearchModel(CNN(arch), params), images, ones, margins, wrong, threshold, BINARY)


BINARY = PixelValues(True, 0.0, 1.0, 0, None)


def base_margins(arch: Architecture, params, images: np.ndarray) -> np.ndarray:
    margin_fn = make_margin_fn(arch)
    return apply_in_chunks(lambda batch: margin_fn(params, batch), images).astype(np.float32)


def make_summary(dataset_path, search_path, key: tuple[int, float, int], config: dict, out_path) -> None:
    """A net's search summary made from its stored dataset and cube (the search job makes it in memory)."""
    size, step, seed = key
    dataset = open_dataset(dataset_path, size, step, config, lazy=True)
    cube = open_search(search_path, size, step, seed, config, lazy=True)
    with dataset, cube:
        write_summary(dataset, cube, size, config, out_path)
