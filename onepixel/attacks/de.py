"""Su et al.'s one-pixel differential evolution, ART's ``art.attacks.evasion.PixelAttack`` (th = 1, es = 1).

The network is wrapped as a black box that binarises ART's grey proposals (ART
works in [0, 1] here) and counts the images it classifies.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.art_import import import_art_modules
from onepixel.attacks.base import NOT_FOUND, AttackResult, binarise, empty_result, make_label_fn, record


@functools.cache
def art_classes():
    """ART's ``PixelAttack`` and black-box classifier, imported on first use.

    Importing all of ART takes seconds (its packages import all of its
    attacks, defences and SciPy's statistics), which the random and
    gradient attacks do not need, and the DE attack needs a few modules of:
    the attack, the classifier, and what the classifier imports when made.
    The workflow's warm process imports them once for every attack job.
    """
    pixel_threshold, blackbox, *_ = import_art_modules(
        "art.attacks.evasion.pixel_threshold",
        "art.estimators.classification.blackbox",
        "art.defences.preprocessor.preprocessor",
        "art.defences.postprocessor.postprocessor",
        "art.preprocessing.standardisation_mean_std.numpy",
    )
    return pixel_threshold.PixelAttack, blackbox.BlackBoxClassifierNeuralNetwork


class _OneImageQueries:
    """Class probabilities of one image's one-pixel flips for ART, each distinct flip classified once.

    ART's DE proposes (row, col, grey value) triples; binarised, every proposal
    is the image itself or one of its D² one-pixel flips, so its 40,401
    proposals for an image it cannot attack hold at most D² + 1 distinct
    images. Each is classified the first time it is proposed and answered
    from memory after (the same network, the same numbers); ``queries``
    still counts every proposal, as the attack's cost. A proposal that
    differs in more than one pixel is classified every time. Batches of at
    most ``chunk`` are padded to a power of two of at least ``smallest``, so
    a job traces and compiles four shapes, not one per batch length ART
    happens to ask for. The same run gives the same bits; another batch
    length may not on every CPU (XLA's kernels can sum a batch of 128 in
    another order than one of 16), so DE's trajectory is the host's.

    ``answers`` (D² + 1, classes): the probabilities of every flip (flat
    pixel order) and, last, of the image, to answer one-pixel proposals from
    instead of the network; ``classified`` then counts the distinct images
    the answers gave, as the network would have classified them.
    """

    def __init__(self, probabilities_fn, image: np.ndarray, chunk=128, smallest=16, answers=None):
        self.probabilities_fn = probabilities_fn
        self.image = image.reshape(-1).astype(np.uint8)
        self.chunk = chunk
        self.smallest = smallest
        self.answers = answers
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
        self.classified += len(new) + len(several)
        if self.answers is not None:
            # Key -1, the image itself, is the answers' last row.
            self.known.update((key, self.answers[key]) for key in new)
            new = []
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
        parts = []
        for start in range(0, len(batch), self.chunk):
            part = batch[start : start + self.chunk]
            padded = max(self.smallest, 1 << (len(part) - 1).bit_length())
            part = np.concatenate([part, np.repeat(part[-1:], padded - len(part), axis=0)])
            parts.append(np.asarray(self.probabilities_fn(part))[: min(self.chunk, len(batch) - start)])
        return np.concatenate(parts)


def probabilities_from_margins(margins: np.ndarray, label: int) -> np.ndarray:
    """(m, 2) class probabilities of a two-class net from its margins (the label's logit minus the other's).

    The softmax of the logits (label: margin, other: 0), in float32 and in the
    order ``jax.nn.softmax`` takes (the largest logit subtracted first), so
    a probability that rounds to 1 on the network's logits rounds to 1 here.
    """
    logits = np.zeros((len(margins), 2), np.float32)
    logits[:, label] = margins
    unnormalised = np.exp(logits - logits.max(axis=1, keepdims=True))
    return unnormalised / unnormalised.sum(axis=1, keepdims=True)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _probabilities(model, size, params, binary):
    """Class probabilities of flat (m, D * D) binary images."""
    return jax.nn.softmax(model.apply({"params": params}, binary.reshape(-1, size, size).astype(jnp.float32)))


def de_attack(model, params, images, labels, *, max_iter: int, seed: int, answers=None) -> AttackResult:
    """Su et al.'s one-pixel differential evolution, ART's ``PixelAttack`` (th = 1, es = 1), untargeted.

    For 2 classes ART refuses ``y``; ``generate(x)`` attacks the predicted
    label, which is the true one for a net at training accuracy 1.0 (an image
    it misclassifies is reported as not attacked). ``extra["classified"]``:
    per image, the distinct images the network classified (``queries``
    counts every proposal; see ``_OneImageQueries``).

    ``answers``: a ``SearchedFlips`` of these images (a two-class net): the
    one-pixel proposals are answered from its margins, as the probabilities
    of the labels' softmax (see ``SearchedFlips`` on ties).
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"de_attack: max_iter={max_iter!r}; use a whole number >= 1")
    if answers is not None:
        answers.check_images(images)
    params = jax.device_put(params)  # once, for both functions
    predict_labels = make_label_fn(model, params)
    n, size = len(images), images.shape[-1]
    probabilities_fn = functools.partial(_probabilities, model, size, params)
    # The output's shape from a trace, not a compiled call: with answers, no proposal needs the network.
    one_image = jax.ShapeDtypeStruct((1, size * size), jnp.uint8)
    n_classes = int(jax.eval_shape(probabilities_fn, one_image).shape[-1])
    if answers is not None and n_classes != 2:
        raise ValueError(f"de_attack: answers= needs a two-class net (its margins); this one has {n_classes}")
    current = {}

    def predict(x):
        # ART passes (m, 1, D, D) grey values in [0, 1] (channels first): binarise, then classify.
        return current["queries"](binarise(np.asarray(x).reshape(len(x), size, size)))

    PixelAttack, BlackBoxClassifierNeuralNetwork = art_classes()
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
    result = empty_result(n)
    result.extra["classified"] = np.zeros(n, np.int64)
    for i in range(n):
        if int(np.asarray(predict_labels(images[i : i + 1]))[0]) != labels[i]:
            continue  # misclassified already: not an attack target
        np.random.seed(seed + i)  # ART's DE draws from NumPy's global generator
        known = None
        if answers is not None:
            margins = np.append(answers.margin[i].reshape(-1), answers.base_margin[i])
            known = probabilities_from_margins(margins, int(labels[i]))
        current["queries"] = _OneImageQueries(probabilities_fn, images[i], answers=known)
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
        record(result, i, pixel, size, seconds)
    return result
