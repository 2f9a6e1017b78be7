"""Dropout-off inference over many images, in fixed-size chunks (one compile per shape)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, margin

EVAL_CHUNK = 1024


def make_class_fn(arch: Architecture):
    """Jitted fn(params, images) -> predicted class (argmax of the logits; ties go to the lowest class)."""
    model = CNN(arch)

    @jax.jit
    def classes(params, images):
        return jnp.argmax(model.apply({"params": params}, images), axis=-1)

    return classes


def predicted_classes(class_fn, params, images: np.ndarray) -> np.ndarray:
    """Dropout-off predicted class of every image."""
    return apply_in_chunks(lambda batch: class_fn(params, batch), images)


def make_margin_fn(arch: Architecture):
    """Jitted fn(params, images) -> logit_1 - logit_0 of a 2-class net."""
    model = CNN(arch)

    @jax.jit
    def margins(params, images):
        return margin(model.apply({"params": params}, images))

    return margins


def apply_in_chunks(fn, images: np.ndarray, chunk: int = EVAL_CHUNK) -> np.ndarray:
    """``fn`` over all images in fixed-size float32 chunks, the tail zero-padded (one compile)."""
    out = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        padded = np.zeros((chunk, *images.shape[1:]), np.float32)
        padded[: len(part)] = part
        out.append(np.asarray(fn(padded))[: len(part)])
    return np.concatenate(out)
