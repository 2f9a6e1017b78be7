"""The public API: the exact exhaustive one-pixel search on a network and binary images.

``flip_search`` flips every pixel of every image, classifies each flipped image
and returns the complete cube of results, the same ``xarray.Dataset`` the
workflow's search stage writes (it calls this function).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import flax.linen as nn
import numpy as np
import xarray as xr

from onepixel.data.flips import one_flip_pairs
from onepixel.models.cnn import CNN
from onepixel.search.cube import flip_cube, landing_array
from onepixel.search.plain import base_logits, label_margin, plain_label_search, recheck_labels

log = logging.getLogger(__name__)

METHODS = ("auto", "fast", "plain")


def _check_params(model, images, labels, method, recheck_below, chunk_candidates) -> None:
    """One ValueError per bad argument, before any work (as ART's attacks do)."""
    if not (isinstance(model, nn.Module) or callable(model)):
        raise ValueError(f"model: {type(model).__name__} is neither a Flax module nor apply(params, images)")
    if method not in METHODS:
        raise ValueError(f"method={method!r}; use one of {METHODS}")
    if method == "fast" and not isinstance(model, CNN):
        raise ValueError(
            "method='fast' needs an onepixel.CNN (its geometry comes from the Architecture); "
            "use method='plain' or 'auto' for other models"
        )
    if not isinstance(images, np.ndarray) or images.ndim != 3 or 0 in images.shape:
        raise ValueError(
            f"images: expected a numpy array (N, H, W) with N, H, W >= 1, got {np.shape(images)}"
        )
    if not _is_binary(images):
        raise ValueError("images: values must be 0 or 1 (binary images); binarise them first")
    if isinstance(model, CNN) and images.shape[1:] != (model.arch.size, model.arch.size):
        raise ValueError(
            f"images: shape {images.shape[1:]} but the CNN expects {model.arch.size}x{model.arch.size}"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or labels.dtype.kind not in "iub":
            raise ValueError(
                f"labels: expected {len(images)} integer class indices, got {labels.shape} {labels.dtype}"
            )
        if (labels < 0).any():
            raise ValueError("labels: class indices must be >= 0")
    if isinstance(recheck_below, bool) or not isinstance(recheck_below, int | float) or recheck_below < 0:
        raise ValueError(f"recheck_below={recheck_below!r}; use a number >= 0 (0 turns the re-check off)")
    if isinstance(chunk_candidates, bool) or not isinstance(chunk_candidates, int) or chunk_candidates < 1:
        raise ValueError(f"chunk_candidates={chunk_candidates!r}; use a whole number >= 1")


def _is_binary(images: np.ndarray) -> bool:
    """Every value is 0 or 1: for integers from min and max (``np.isin`` took 4-11 s
    on the 72.5 M pixels of D = 80 step 0.5), else by comparison."""
    if images.dtype.kind == "b":
        return True
    if images.dtype.kind in "ui":
        return bool(images.max() <= 1 and (images.dtype.kind == "u" or images.min() >= 0))
    return bool(((images == 0) | (images == 1)).all())


def _apply_fn(model, params) -> tuple[Callable, object]:
    """``apply(params, images) -> logits`` and the params it takes."""
    if isinstance(model, nn.Module):
        variables = params if isinstance(params, Mapping) and "params" in params else {"params": params}
        return (lambda p, x: model.apply(p, x)), variables
    return model, params


def flip_search(
    model,
    params,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    method: str = "auto",
    recheck_below: float = 1e-4,
    chunk_candidates: int = 8192,
    lands_on: np.ndarray | None = None,
    image_coords: Mapping[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """Every single-pixel flip of every image, classified: the complete set of one-pixel adversarial examples.

    Args:
      model: an ``onepixel.CNN`` (searched by the exact fast method), any Flax
        Linen module, or a callable ``apply(params, images) -> logits`` (searched
        by the plain method: a jitted, batched forward pass of every flipped image).
        ``images`` reach it as float32 (batch, H, W) in {0, 1}.
      params: the model's parameters (for a Linen module, its ``params`` or the
        whole variables dict).
      images: (N, H, W) array of 0/1.
      labels: (N,) class indices the flips are judged against; ``None`` attacks
        the model's own predictions.
      method: ``"fast"`` (an ``onepixel.CNN`` only; exact, ~1000x faster at
        D = 80), ``"plain"`` (the reference), or ``"auto"`` (fast where it covers
        the network, else plain, with a warning for a CNN it does not cover).
      recheck_below: fast method only: flips with |margin| below this are
        recomputed by the plain forward pass before they are stored.
      chunk_candidates: plain method: flipped images per jitted call (memory bound).
      lands_on: (N, H, W) index of the valid image each flip yields, -1 for
        none; default: computed among ``images`` (exactly, by hashing and a
        pixel-by-pixel check). Such flips are never counted as adversarial.
      image_coords: extra per-image coordinates for the cube (e.g. ``angle``);
        ``image`` replaces the default index 0..N-1.

    Returns:
      The cube (``xarray.Dataset``, dims image x row x col): ``margin`` = the
      label's logit minus the best other logit (> 0: still classified as the
      label; with 2 classes, logit_1 - logit_0 for label 1 and its negative for
      label 0), ``misclassified`` (argmax != label), ``on_manifold`` and
      ``lands_on``, ``adversarial`` = misclassified and not on the manifold,
      per image ``base_margin`` and ``n_adversarial``; counts in its attributes.

    Raises:
      ValueError: a bad argument, before any work.
    """
    _check_params(model, images, labels, method, recheck_below, chunk_candidates)
    images = images.astype(np.uint8, copy=False)
    started = time.perf_counter()
    used = _method_used(model, params, method)
    if used == "fast" and model.arch.n_classes == 2:
        result = _fast_two_class(model, params, images, labels)
    else:
        result = _label_search(model, params, images, labels, used, chunk_candidates)
    margins, wrong, base_margin, base_wrong, labels, n_classes, info = result
    if used == "fast":
        apply, variables = _apply_fn(model, params)
        info["n_rechecked"] = recheck_labels(apply, variables, images, labels, margins, wrong, recheck_below)
        log.info(
            "re-checked %d candidates with |margin| < %g by a plain forward pass",
            info["n_rechecked"],
            recheck_below,
        )
    if lands_on is None:
        lands_on = landing_array(images.shape, *one_flip_pairs(images))
    attrs = {
        "search_method": method,
        "search_method_used": used,
        "n_classes": int(n_classes),
        **info,
        "search_seconds": time.perf_counter() - started,
    }
    return flip_cube(margins, wrong, base_margin, base_wrong, labels, lands_on, image_coords, attrs)


def _fast_two_class(model, params, images, labels):
    """The fast search of a 2-class CNN: (margins, wrong, base margin, base wrong, labels, 2, info).

    Its own base pass gives every image's logit_1 - logit_0, so no second
    forward pass; argmax picks class 1 iff it is > 0.
    """
    class_1_minus_0, base_1_minus_0, info = _fast_search(model, params, images)
    labels = _labels(labels, (base_1_minus_0 > 0).astype(np.int64), 2)
    is_1 = labels == 1
    sign = np.where(is_1, 1.0, -1.0).astype(np.float32)
    wrong = class_1_minus_0 > 0
    wrong ^= is_1[:, None, None]
    # In place (exact: a sign change): the cube is 290 MB of float32 at D = 80 step 0.5.
    margins = np.multiply(class_1_minus_0, sign[:, None, None], out=class_1_minus_0)
    return margins, wrong, base_1_minus_0 * sign, (base_1_minus_0 > 0) != is_1, labels, 2, info


def _label_search(model, params, images, labels, used: str, chunk_candidates: int):
    """Any number of classes, fast or plain: as ``_fast_two_class``, with the number of classes."""
    apply, variables = _apply_fn(model, params)
    logits = base_logits(apply, variables, images)
    n_classes = logits.shape[1]
    labels = _labels(labels, np.argmax(logits, axis=1), n_classes)
    base_margin, base_wrong = (np.asarray(v) for v in label_margin(logits, labels))
    if used == "fast":
        margins, _, info = _fast_search(model, params, images, labels)
        # A tie (margin 0) is wrong iff a lower class ties (argmax takes the lowest);
        # only the label's side is known here, so ties count wrong for labels > 0.
        # Margins below recheck_below are recomputed exactly by the plain pass.
        wrong = (margins < 0) | ((margins == 0) & (labels > 0)[:, None, None])
    else:
        info = {"n_rechecked": 0}
        margins, wrong = plain_label_search(apply, variables, images, labels, chunk_candidates)
    return margins, wrong, base_margin, base_wrong, labels, n_classes, info


def _labels(labels, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """The given labels (checked against the model's outputs), or its own predictions."""
    labels = predicted if labels is None else np.asarray(labels).astype(np.int64)
    if labels.max() >= n_classes:
        raise ValueError(f"labels: class {int(labels.max())} but the model has {n_classes} outputs")
    return labels


def _method_used(model, params, method: str) -> str:
    """ "fast" where it covers the model, else "plain" (a warning under "auto", an error under "fast")."""
    from onepixel.search.fast import fast_path_problem

    if not isinstance(model, CNN) or method == "plain":
        return "plain"
    problem = fast_path_problem(model.arch, params)
    if problem is None:
        return "fast"
    if method == "fast":
        raise ValueError(f"method='fast': the fast search does not cover this network ({problem})")
    log.warning("fast search does not cover this network (%s): using the plain search", problem)
    return "plain"


def _fast_search(model, params, images, labels=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(flip margins, base margins, info) of the fast search (logit_1 - logit_0 for 2 classes)."""
    from onepixel.search.fast import FastSearchStats, fast_flip_margins

    stats = FastSearchStats()
    margins, base = fast_flip_margins(model.arch, params, images, stats=stats, labels=labels)
    info = {"unique_window_pixel_pairs": stats.unique_pairs, "dedup_factor": stats.dedup_factor}
    return margins, base, info
