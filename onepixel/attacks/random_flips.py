"""Single flips in a random order until the first success or the budget (foolbox's SinglePixelAttack)."""

from __future__ import annotations

import time

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


def random_attack(
    model, params, images, labels, *, budget: int, seed: int, chunk: int = 64, answers=None
) -> AttackResult:
    """Single flips in a random order (per image, from ``seed``) until the first success or ``budget``.

    ``answers``: a ``SearchedFlips`` of these images, to answer the flips'
    queries from (the same decisions, so the same result but ``seconds``).
    """
    check_budget(budget)
    if answers is not None:
        answers.check_images(images)
    predict = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    result = empty_result(n)
    rng = np.random.default_rng(seed)
    for i in range(n):
        started = time.perf_counter()
        order = rng.permutation(size * size)
        known = None if answers is None else answers.misclassified[i]
        misclassified = flips_misclassified(predict, images[i], labels[i], chunk, known)
        pixel, result.queries[i] = try_in_order(misclassified, order, budget, chunk)
        record(result, i, pixel, size, time.perf_counter() - started)
    return result
