"""What every attack shares: the result type, the flips it tries, and the re-check of a reported success.

An attack's result per image: ``found``, the flipped pixel, ``queries`` (images
classified), ``seconds``. ``verify_flips`` re-checks every reported success:
exactly one pixel differs, and a plain forward pass classifies it differently
from the image's label. Scoring against the exhaustive search's cube is in
``onepixel.attacks.scores``. ``SearchedFlips`` hands an attack the answers an
exhaustive search of the same net already holds for every one-pixel flip.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

NOT_FOUND = -1


@dataclass
class AttackResult:
    """Per image: whether a misclassifying one-pixel flip was found, where, and at what cost."""

    found: np.ndarray  # bool (n,)
    row: np.ndarray  # int (n,), NOT_FOUND where none
    col: np.ndarray
    queries: np.ndarray  # int (n,): images the attack had classified when it stopped
    seconds: np.ndarray  # float (n,)
    ranks: np.ndarray | None = None  # gradient: (n, D*D) pixel order, most promising first
    extra: dict = field(default_factory=dict)


class SearchedFlips:
    """Every one-pixel flip of each attacked image, as an exhaustive search of the same net classified it.

    Given to an attack (``answers=``), its queries of one-pixel flips are
    answered from here instead of by a forward pass each: the attack asks the
    same questions and counts them as before (``queries``), but its seconds
    no longer include the network's. ``misclassified`` (n, D, D) bool: the
    flipped image's class differs from the image's label (the search's exact
    decision); ``margin`` (n, D, D): the label's logit minus the best other
    after the flip; ``base_margin`` (n,): the unflipped image's. The margins
    are the search's (within its stated tolerance of a forward pass's, near
    zero re-checked by one), so an attack that compares them, as DE does, can
    take another path where two flips tie within rounding.
    """

    def __init__(self, misclassified, margin, base_margin):
        self.misclassified = np.asarray(misclassified, dtype=bool)
        self.margin = np.asarray(margin, dtype=np.float32)
        self.base_margin = np.asarray(base_margin, dtype=np.float32)
        if self.misclassified.ndim != 3 or self.margin.shape != self.misclassified.shape:
            raise ValueError(
                f"SearchedFlips: misclassified {self.misclassified.shape} and margin {self.margin.shape} "
                "must both be (images, D, D)"
            )
        if self.base_margin.shape != self.margin.shape[:1]:
            raise ValueError(
                f"SearchedFlips: base_margin {self.base_margin.shape}; use one per image, "
                f"({self.margin.shape[0]},)"
            )

    def check_images(self, images: np.ndarray) -> None:
        """Refuse answers of other images than the attack's (their count and D)."""
        if self.margin.shape != images.shape:
            raise ValueError(
                f"answers: searched flips of {self.margin.shape} images; the attack has {images.shape}: "
                "pass the search's flips of the attacked images, in their order"
            )


def empty_result(n: int) -> AttackResult:
    return AttackResult(
        found=np.zeros(n, bool),
        row=np.full(n, NOT_FOUND),
        col=np.full(n, NOT_FOUND),
        queries=np.zeros(n, np.int64),
        seconds=np.zeros(n),
    )


def binarise(x) -> np.ndarray:
    """Grey values in [0, 1] to {0, 1} (threshold 0.5)."""
    return (np.asarray(x) >= 0.5).astype(np.uint8)


# The attacks' jitted functions take the weights as an argument: closed over,
# they would be constants of the compiled code (5-10 MB at D = 80), so every
# net compiled its own and wrote it, zlib-compressed, to JAX's persistent cache
# (~0.5 s each), where no other net could use it. As arguments, the nets of one
# D share one compile per batch shape.


@functools.partial(jax.jit, static_argnums=0)
def _predicted_labels(model, params, images):
    return jnp.argmax(model.apply({"params": params}, images.astype(jnp.float32)), axis=-1)


def make_label_fn(model, params):
    """Jitted images (n, D, D) in {0, 1} -> predicted class (n,)."""
    return functools.partial(_predicted_labels, model, jax.device_put(params))


def flipped(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Copies of ``image`` with one pixel each (flat indices) flipped."""
    batch = np.repeat(image[None], len(pixels), axis=0).reshape(len(pixels), -1)
    batch[np.arange(len(pixels)), pixels] ^= 1
    return batch.reshape(len(pixels), *image.shape)


def flips_misclassified(predict, image, label, chunk: int, answers=None):
    """Flat pixels (at most ``chunk``) -> whether each one's flip is misclassified.

    From the network (``predict``), in batches padded to ``chunk`` (one
    compiled shape), or from a search's ``answers`` (D, D) for this image.
    """
    if answers is not None:
        flat = answers.reshape(-1)
        return lambda pixels: flat[pixels]

    def classify(pixels):
        padded = np.concatenate([pixels, np.repeat(pixels[-1:], chunk - len(pixels))])
        return np.asarray(predict(flipped(image, padded)))[: len(pixels)] != label

    return classify


def try_in_order(misclassified, order, budget, chunk) -> tuple[int, int]:
    """Flip pixels in ``order`` until the first misclassification; (flat pixel or NOT_FOUND, queries).

    ``misclassified``: see ``flips_misclassified``. Flips are classified
    ``chunk`` at a time for speed, but the queries are counted as if one at
    a time: up to and including the first success.
    """
    order = order[:budget]
    for start in range(0, len(order), chunk):
        pixels = order[start : start + chunk]
        wrong = misclassified(pixels)
        if wrong.any():
            first = int(np.argmax(wrong))
            return int(pixels[first]), start + first + 1
    return NOT_FOUND, len(order)


def record(result: AttackResult, i: int, pixel: int, size: int, seconds: float) -> None:
    result.seconds[i] = seconds
    if pixel != NOT_FOUND:
        result.found[i] = True
        result.row[i], result.col[i] = divmod(pixel, size)


def check_budget(budget) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"query budget={budget!r}; use a whole number >= 1")


def verify_flips(model, params, images, labels, result: AttackResult) -> np.ndarray:
    """Re-check every reported success with a plain forward pass: True where it is a misclassifying flip."""
    predict = make_label_fn(model, params)
    ok = np.zeros(len(images), bool)
    for i in np.flatnonzero(result.found):
        flipped = images[i].copy()
        flipped[result.row[i], result.col[i]] ^= 1
        one_pixel = int((flipped != images[i]).sum()) == 1
        ok[i] = one_pixel and int(np.asarray(predict(flipped[None]))[0]) != labels[i]
    return ok
