"""The public API: the exact exhaustive one-pixel search on a model and its images.

``flip_search`` changes every pixel of every image (a flip for binary images,
every corner of the value box for grey and colour ones), classifies each
changed image and returns the complete cube of results, the same
``xarray.Dataset`` the workflow's search stage writes (it calls this function).
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from onepixel.io import atomic_path, read_netcdf
from onepixel.search import checks
from onepixel.search.chunk import ChunkSearch, Landing
from onepixel.search.cube import SEARCH_KIND
from onepixel.search.images import prepare_images
from onepixel.search.models import SearchModel
from onepixel.search.plain import (
    base_logits,
)
from onepixel.search.progress import Progress
from onepixel.search.stream import CubeWriter, add_up

log = logging.getLogger(__name__)

# Candidates per chunk of images when the cube is streamed to a file. Each chunk
# pays the fast search's fixed cost per span position: at D = 80 chunks of 4 M
# candidates took 95 s (peak 1.1 GB), 8 M 65 s (1.3 GB), 16 M 46 s (1.6 GB),
# the whole set in memory 29 s (2.8 GB) (docs/performance.md).
STREAM_CANDIDATES = 1 << 24


def flip_search(
    model,
    params,
    images,
    labels=None,
    *,
    targets=None,
    bounds=None,
    method: str = "auto",
    recheck_below: float = 1e-4,
    chunk_candidates: int = 8192,
    lands_on=None,
    image_coords=None,
    out=None,
    chunk_images: int | None = None,
    progress=None,
) -> xr.Dataset:
    """Every single-pixel change of every image, classified: the complete set of one-pixel adversarials.

    Args:
      model: an ``onepixel.CNN`` (searched by the exact fast method), any Flax
        module or JAX callable ``apply(params, images) -> logits`` (the plain
        method: a jitted, batched forward pass of every changed image),
        ``onepixel.NumpyModel(predict)`` (any batched NumPy callable: PyTorch,
        Keras, ...), an ART classifier, or an ONNX model (a path,
        ``onnx.ModelProto`` or ``onepixel.OnnxModel``, run by onnxruntime).
        JAX models get float32 (batch, H, W) or (batch, H, W, C) images.
      params: the JAX model's parameters (for a Flax module its ``params`` or
        the whole variables dict); ``None`` for models that hold their weights.
      images: (N, H, W) binary (0/1) images, or grey (N, H, W) and colour
        (N, H, W, C) images with ``bounds``.
      labels: (N,) class indices the changes are judged against; ``None``
        attacks the model's own predictions.
      targets: (N,) target classes: a change is adversarial when the model
        classifies the changed image as its target (targeted search).
      bounds: ``(lo, hi)``: every pixel is set to each corner of the value box
        (grey: lo and hi; C channels: 2^C corners) other than its own value;
        the cube gains a ``corner`` dim. Default: binary images (flips); an ART
        classifier's clip values.
      method: ``"fast"`` (an ``onepixel.CNN`` only; exact, ~1000x faster at
        D = 80), ``"plain"`` (the reference), or ``"auto"`` (fast where it covers
        the network, else plain, with a warning for a CNN it does not cover).
      recheck_below: fast method only: changes with |margin| below this are
        recomputed by the plain forward pass before they are stored.
      chunk_candidates: plain JAX method: changed images per jitted call.
      lands_on: index of the valid image each change yields, -1 for none
        (shaped as the cube's ``margin``); default: computed among ``images``
        (exactly, by hashing and a value-by-value check). Such changes are
        never counted as adversarial.
      image_coords: extra per-image coordinates for the cube (e.g. ``angle``);
        ``image`` replaces the default index 0..N-1.
      out: a ``.nc`` path: the cube is written there chunk by chunk of images
        (memory does not grow with N) and returned opened lazily.
      chunk_images: images per chunk (default: all in memory; with ``out``
        about 16 M candidates per chunk: fewer is less memory, more time).
      progress: ``None``: a progress bar on a terminal for searches longer
        than 2 s; ``False``: none; a callable ``progress(done, total)``.

    Returns:
      The cube (``xarray.Dataset``, dims image x row x col, with corner after
      image for grey and colour images): ``margin`` = the label's logit minus
      the best other logit (> 0: still the label; targeted: the target's, > 0:
      the target is reached), ``misclassified`` (argmax != label; targeted:
      ``reaches_target``), ``on_manifold`` and ``lands_on``, ``adversarial`` =
      decided against the label (or for the target) and not on the manifold,
      per image ``base_margin`` and ``n_adversarial``; counts in its attributes.

    Raises:
      ValueError: a bad argument, before any work; ``NonFiniteLogitsError``
      (a ValueError) when the model gives NaN or inf logits.
    """
    started = time.perf_counter()
    checks.check_search_params(method, recheck_below, chunk_candidates, chunk_images, out, progress)
    search_model = SearchModel(model, params)
    images, values = prepare_images(images, bounds, search_model.bounds)
    checks.check_model_fits(search_model, images, values, method)
    n = len(images)
    n_classes = _n_classes(search_model, images)
    labels = checks.check_classes("labels", labels, n, n_classes)
    targets = checks.check_classes("targets", targets, n, n_classes)
    if targets is not None and labels is None:
        # The model's own predictions, so a target equal to one is refused before the search.
        labels = np.argmax(base_logits(search_model, images), axis=1)
    checks.check_targets(targets, labels)
    shape = (
        (n, images.shape[1], images.shape[2]) if values.binary else (n, values.n_corners, *images.shape[1:3])
    )
    lands_on = checks.check_lands_on(lands_on, shape)
    image_coords = checks.check_image_coords(image_coords, n)
    used = _method_used(search_model, method)
    # Valid images a change yields: found among the images, chunk by chunk (memory stays bounded).
    landing = Landing(images, values) if lands_on is None else (lambda part: lands_on[part])
    per_chunk = chunk_images or (n if out is None else max(1, STREAM_CANDIDATES // int(np.prod(shape[1:]))))
    tracker = Progress(int(np.prod(shape)), progress)
    attrs = {"search_method": method, "search_method_used": used, "n_classes": int(n_classes)}
    search = ChunkSearch(
        search_model,
        images,
        labels,
        targets,
        values,
        used,
        landing,
        image_coords,
        recheck_below=recheck_below,
        chunk_candidates=chunk_candidates,
        tracker=tracker,
        attrs=attrs,
    )
    try:
        parts = (search.cube(slice(start, min(start + per_chunk, n))) for start in range(0, n, per_chunk))
        if out is None:
            cube = _concat(list(parts))
        else:
            with atomic_path(out) as tmp:
                writer = CubeWriter(tmp, n)
                try:
                    for part in parts:
                        writer.write(part)
                    writer.close({"search_seconds": time.perf_counter() - started})
                finally:
                    writer.abort()
    finally:
        tracker.close()
    if out is not None:
        return read_netcdf(out, SEARCH_KIND, ("margin", "adversarial", "lands_on"), lazy=True)
    cube.attrs["search_seconds"] = time.perf_counter() - started
    return cube


def _n_classes(model: SearchModel, images: np.ndarray) -> int:
    """The model's number of outputs: an onepixel.CNN's architecture, a JAX model's traced
    output shape (nothing computed), else one image's logits."""
    if model.cnn is not None:
        return model.cnn.arch.n_classes
    if model.apply is not None:
        one = jax.ShapeDtypeStruct((1, *images.shape[1:]), jnp.float32)
        shape = tuple(jax.eval_shape(model.apply, model.variables, one).shape)
    else:
        shape = model.predict(images[:1].astype(np.float32)).shape
    if len(shape) != 2 or shape[1] < 2:
        raise ValueError(f"model: returned shape {shape} for one image; expected (1, n_classes >= 2)")
    return int(shape[1])


def _concat(cubes: list[xr.Dataset]) -> xr.Dataset:
    if len(cubes) == 1:
        return cubes[0]
    whole = xr.concat(cubes, dim="image", data_vars="minimal", coords="minimal", compat="override")
    whole.attrs.update(add_up([cube.attrs for cube in cubes]))
    return whole


def _method_used(model: SearchModel, method: str) -> str:
    """ "fast" where it covers the model, else "plain" (a warning under "auto", an error under "fast")."""
    from onepixel.search.fast import fast_path_problem

    if model.cnn is None or method == "plain":
        return "plain"
    problem = fast_path_problem(model.cnn.arch, model.params)
    if problem is None:
        return "fast"
    if method == "fast":
        raise ValueError(f"method='fast': the fast search does not cover this network ({problem})")
    log.warning("fast search does not cover this network (%s): using the plain search", problem)
    return "plain"
