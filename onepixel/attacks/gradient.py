"""White-box gradient attack: pixels ranked by the first-order change of the label margin.

The rank is grad · (1 - 2x), the FGSM idea restricted to one pixel; flips are
tried in that order until the first success or the query budget.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.attacks.base import (
    AttackResult,
    check_budget,
    empty_result,
    flips_misclassified,
    make_label_fn,
    record,
    try_in_order,
)


@functools.partial(jax.jit, static_argnums=0)
def _margin_gradients(model, params, images, labels):
    def margin(image, label):
        logits = model.apply({"params": params}, image[None].astype(jnp.float32))[0]
        others = jnp.where(jnp.arange(logits.shape[-1]) == label, -jnp.inf, logits)
        return logits[label] - others.max()

    return jax.vmap(jax.grad(margin), in_axes=(0, 0))(images, labels)


def margin_gradients(model, params, images, labels) -> np.ndarray:
    """d(label logit - best other logit) / d(pixel) of every image, (n, D, D)."""
    return np.asarray(_margin_gradients(model, params, jnp.asarray(images, jnp.float32), jnp.asarray(labels)))


def gradient_ranks(model, params, images, labels) -> np.ndarray:
    """Per image, the pixels (flat) by first-order margin change grad · (1 - 2x), most negative first."""
    change = margin_gradients(model, params, images, labels) * (1 - 2 * images.astype(np.float32))
    return np.argsort(change.reshape(len(images), -1), axis=1, kind="stable")


def gradient_attack(
    model, params, images, labels, *, budget: int, chunk: int = 64, answers=None
) -> AttackResult:
    """Flips in the gradient's order until the first success or ``budget``; the order is kept for recall@k.

    ``answers``: a ``SearchedFlips`` of these images, to answer the flips'
    queries from (the gradients are still the network's).
    """
    check_budget(budget)
    if answers is not None:
        answers.check_images(images)
    predict = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    result = empty_result(n)
    started = time.perf_counter()
    result.ranks = gradient_ranks(model, params, images, labels)
    rank_seconds = (time.perf_counter() - started) / max(n, 1)
    for i in range(n):
        started = time.perf_counter()
        known = None if answers is None else answers.misclassified[i]
        misclassified = flips_misclassified(predict, images[i], labels[i], chunk, known)
        pixel, queries = try_in_order(misclassified, result.ranks[i], budget, chunk)
        # One gradient costs about a forward and a backward pass: counted as one query.
        result.queries[i] = queries + 1
        record(result, i, pixel, size, time.perf_counter() - started + rank_seconds)
    return result
