"""One-pixel optimisation attacks on a network's binary images, each success re-checked by a forward pass.

- ``de_attack``: differential evolution of Su et al. through the
  adversarial-robustness-toolbox (``art.attacks.evasion.PixelAttack``, th = 1,
  es = 1) on a black-box wrapper of the network that binarises ART's grey
  proposals (ART works in [0, 255]) and counts the images it classifies.
- ``random_attack``: single flips in a random order until the first success
  or the query budget (what foolbox's SinglePixelAttack does).
- ``gradient_attack``: white box; pixels ranked by the first-order change of
  the label margin, grad · (1 - 2x) (the FGSM idea restricted to one pixel),
  tried in that order.

An attack's result per image: ``found``, the flipped pixel, ``queries`` (images
classified), ``seconds``. ``verify_flips`` re-checks every reported success:
exactly one pixel differs, and a plain forward pass classifies it differently
from the image's label. Scoring against the exhaustive search's cube is in
``onepixel.attack_scores``.
"""

from __future__ import annotations

import functools
import logging.config
import time
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

NOT_FOUND = -1


@functools.cache
def _art_classes():
    """ART's ``PixelAttack`` and black-box classifier, imported on first use.

    Importing ART takes seconds (it imports all of its attacks, defences and
    SciPy's statistics), which the random and gradient attacks do not need.
    ART configures logging when imported, and ``logging.config.dictConfig``
    first closes every handler open then (a job's log file, opened "w", would
    stay closed): those are kept open while it runs. ART also mentions that
    PyTorch (not needed here) is missing.
    """
    clear = logging.config._clearExistingHandlers
    logging.config._clearExistingHandlers = lambda: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            from art.attacks.evasion import PixelAttack
            from art.estimators.classification import BlackBoxClassifierNeuralNetwork
    finally:
        logging.config._clearExistingHandlers = clear
    return PixelAttack, BlackBoxClassifierNeuralNetwork


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


def _empty(n: int) -> AttackResult:
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


def _flipped(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Copies of ``image`` with one pixel each (flat indices) flipped."""
    batch = np.repeat(image[None], len(pixels), axis=0).reshape(len(pixels), -1)
    batch[np.arange(len(pixels)), pixels] ^= 1
    return batch.reshape(len(pixels), *image.shape)


def _try_in_order(predict, image, label, order, budget, chunk) -> tuple[int, int]:
    """Flip pixels in ``order`` until the first misclassification; (flat pixel or NOT_FOUND, queries).

    Flips are classified ``chunk`` at a time for speed, but the queries are
    counted as if one at a time: up to and including the first success.
    """
    order = order[:budget]
    for start in range(0, len(order), chunk):
        pixels = order[start : start + chunk]
        padded = np.concatenate([pixels, np.repeat(pixels[-1:], chunk - len(pixels))])
        wrong = np.asarray(predict(_flipped(image, padded)))[: len(pixels)] != label
        if wrong.any():
            first = int(np.argmax(wrong))
            return int(pixels[first]), start + first + 1
    return NOT_FOUND, len(order)


def random_attack(model, params, images, labels, *, budget: int, seed: int, chunk: int = 64) -> AttackResult:
    """Single flips in a random order (per image, from ``seed``) until the first success or ``budget``."""
    _check_budget(budget)
    predict = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    result = _empty(n)
    rng = np.random.default_rng(seed)
    for i in range(n):
        started = time.perf_counter()
        order = rng.permutation(size * size)
        pixel, result.queries[i] = _try_in_order(predict, images[i], labels[i], order, budget, chunk)
        _record(result, i, pixel, size, time.perf_counter() - started)
    return result


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


def gradient_attack(model, params, images, labels, *, budget: int, chunk: int = 64) -> AttackResult:
    """Flips in the gradient's order until the first success or ``budget``; the order is kept for recall@k."""
    _check_budget(budget)
    predict = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    result = _empty(n)
    started = time.perf_counter()
    result.ranks = gradient_ranks(model, params, images, labels)
    rank_seconds = (time.perf_counter() - started) / max(n, 1)
    for i in range(n):
        started = time.perf_counter()
        pixel, queries = _try_in_order(predict, images[i], labels[i], result.ranks[i], budget, chunk)
        # One gradient costs about a forward and a backward pass: counted as one query.
        result.queries[i] = queries + 1
        _record(result, i, pixel, size, time.perf_counter() - started + rank_seconds)
    return result


class _OneImageQueries:
    """Class probabilities of one image's one-pixel flips for ART, each distinct flip classified once.

    ART's DE proposes (row, col, grey value) triples; binarised, every proposal
    is the image itself or one of its D² one-pixel flips, so its 40,401
    proposals for an image it cannot attack hold at most D² + 1 distinct
    images. Each is classified the first time it is proposed and answered
    from memory after (the same network, the same numbers); ``queries``
    still counts every proposal, as the attack's cost. A proposal that
    differs in more than one pixel is classified every time. Batches of at
    most ``chunk`` are padded to a multiple of ``pad_to``, so a job compiles a
    few shapes, not one per batch length ART happens to ask for.
    """

    def __init__(self, probabilities_fn, image: np.ndarray, chunk: int = 128, pad_to: int = 16):
        self.probabilities_fn = probabilities_fn
        self.image = image.reshape(-1).astype(np.uint8)
        self.chunk = chunk
        self.pad_to = pad_to
        self.known: dict[int, np.ndarray] = {}
        self.queries = 0
        self.classified = 0

    def __call__(self, binary: np.ndarray) -> np.ndarray:
        flat = binary.reshape(len(binary), -1)
        self.queries += len(flat)
        differs = flat != self.image
        n_changed = differs.sum(axis=1)
        # -1: the image itself; >= 0: the flipped pixel; None: more than one pixel changed.
        keys = [
            None if n > 1 else (int(np.argmax(d)) if n else -1)
            for n, d in zip(n_changed, differs, strict=True)
        ]
        new = list(dict.fromkeys(k for k in keys if k is not None and k not in self.known))
        several = [i for i, k in enumerate(keys) if k is None]
        batch = np.repeat(self.image[None], len(new) + len(several), axis=0)
        for row, key in enumerate(new):
            if key >= 0:
                batch[row, key] ^= 1
        batch[len(new) :] = flat[several]
        rows = [None] * len(flat)
        if len(batch):
            probabilities = self._classify(batch)
            self.known.update(zip(new, probabilities[: len(new)], strict=True))
            for i, row in zip(several, probabilities[len(new) :], strict=True):
                rows[i] = row
        for i, key in enumerate(keys):
            if key is not None:
                rows[i] = self.known[key]
        return np.stack(rows)

    def _classify(self, batch: np.ndarray) -> np.ndarray:
        self.classified += len(batch)
        parts = []
        for start in range(0, len(batch), self.chunk):
            part = batch[start : start + self.chunk]
            padded = -(-len(part) // self.pad_to) * self.pad_to
            part = np.concatenate([part, np.repeat(part[-1:], padded - len(part), axis=0)])
            parts.append(np.asarray(self.probabilities_fn(part))[: min(self.chunk, len(batch) - start)])
        return np.concatenate(parts)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _probabilities(model, size, params, binary):
    """Class probabilities of flat (m, D * D) binary images."""
    return jax.nn.softmax(model.apply({"params": params}, binary.reshape(-1, size, size).astype(jnp.float32)))


def de_attack(model, params, images, labels, *, max_iter: int, seed: int) -> AttackResult:
    """Su et al.'s one-pixel differential evolution, ART's ``PixelAttack`` (th = 1, es = 1), untargeted.

    For 2 classes ART refuses ``y``; ``generate(x)`` attacks the predicted
    label, which is the true one for a net at training accuracy 1.0 (an image
    it misclassifies is reported as not attacked). ``extra["classified"]``:
    per image, the distinct images the network classified (``queries``
    counts every proposal; see ``_OneImageQueries``).
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"de_attack: max_iter={max_iter!r}; use a whole number >= 1")
    params = jax.device_put(params)  # once, for both functions
    predict_labels = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    probabilities_fn = functools.partial(_probabilities, model, size, params)
    n_classes = int(np.asarray(probabilities_fn(np.zeros((16, size * size), np.uint8))).shape[-1])
    current = {}

    def predict(x):
        # ART passes (m, 1, D, D) grey values in [0, 1] (channels first): binarise, then classify.
        return current["queries"](binarise(np.asarray(x).reshape(len(x), size, size)))

    PixelAttack, BlackBoxClassifierNeuralNetwork = _art_classes()
    classifier = BlackBoxClassifierNeuralNetwork(
        predict, (1, size, size), n_classes, channels_first=True, clip_values=(0, 1)
    )
    # ART would hand a generation's 399 proposals over in batches of 128; in one, the
    # new flips among them are classified in one call.
    classify_in_batches = classifier.predict
    classifier.predict = lambda x, batch_size=128, **kwargs: classify_in_batches(
        x, batch_size=max(batch_size, len(x)), **kwargs
    )
    attack = PixelAttack(classifier, th=1, es=1, max_iter=max_iter, targeted=False, verbose=False)
    result = _empty(n)
    result.extra["classified"] = np.zeros(n, np.int64)
    for i in range(n):
        if int(np.asarray(predict_labels(images[i : i + 1]))[0]) != labels[i]:
            continue  # misclassified already: not an attack target
        np.random.seed(seed + i)  # ART's DE draws from NumPy's global generator
        current["queries"] = _OneImageQueries(probabilities_fn, images[i])
        started = time.perf_counter()
        adversarial = attack.generate(images[i : i + 1, None].astype(np.float32))
        seconds = time.perf_counter() - started
        changed = np.flatnonzero(binarise(adversarial[0, 0]).ravel() != images[i].ravel())
        pixel = NOT_FOUND
        if changed.size == 1:
            flipped = binarise(adversarial[0, 0])[None]
            if int(np.asarray(predict_labels(flipped))[0]) != labels[i]:
                pixel = int(changed[0])
        result.queries[i] = current["queries"].queries
        result.extra["classified"][i] = current["queries"].classified
        _record(result, i, pixel, size, seconds)
    return result


def _record(result: AttackResult, i: int, pixel: int, size: int, seconds: float) -> None:
    result.seconds[i] = seconds
    if pixel != NOT_FOUND:
        result.found[i] = True
        result.row[i], result.col[i] = divmod(pixel, size)


def _check_budget(budget) -> None:
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
