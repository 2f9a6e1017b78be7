"""The models ``flip_search`` accepts, each behind one interface: logits of a batch of images.

- an ``onepixel.CNN`` (the exact fast search) or any Flax module, with its params;
- a JAX-traceable ``apply(params, images) -> logits`` (jitted and vmapped);
- ``NumpyModel(predict)``: any batched NumPy callable (a PyTorch model under
  ``torch.no_grad()``, a Keras model, ...), called in batches;
- an ART classifier (``art.estimators.classification.*``): its ``predict``,
  channel order and clip values;
- an ONNX model (a path, an ``onnx.ModelProto`` or ``OnnxModel``) run by onnxruntime.

Images reach a model as float32: (batch, H, W) for grey images and
(batch, H, W, C) for colour ones, transposed to the model's layout here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import flax.linen as nn
import numpy as np

from onepixel.art_import import quiet_art_import
from onepixel.models.cnn import CNN

LAYOUTS = ("NHW", "NHWC", "NCHW")
ACCEPTED = (
    "an onepixel.CNN or Flax module with its params, a JAX callable apply(params, images), "
    "onepixel.NumpyModel(predict), an ART classifier, or an ONNX model (path, onnx.ModelProto, "
    "onepixel.OnnxModel)"
)


def _check_layout(owner: str, layout) -> None:
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"{owner}: layout={layout!r}; use one of {LAYOUTS} (or None: NHW grey, NHWC colour)")


def _check_batch_size(owner: str, batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{owner}: batch_size={batch_size!r}; use a whole number >= 1")


def to_layout(images: np.ndarray, layout: str | None) -> np.ndarray:
    """(B, H, W) grey or (B, H, W, C) colour float32 images in the model's layout."""
    if layout is None or layout == ("NHW" if images.ndim == 3 else "NHWC"):
        return images
    if layout == "NHW":
        raise ValueError(f"layout 'NHW' takes grey images, got {images.shape[-1]} channels")
    channels_last = images if images.ndim == 4 else images[..., None]
    return channels_last if layout == "NHWC" else np.ascontiguousarray(channels_last.transpose(0, 3, 1, 2))


class NumpyModel:
    """Any batched NumPy classifier for ``flip_search``: ``predict(images) -> logits``.

    ``predict`` gets float32 ``images`` in ``layout`` (``"NHW"``, ``"NHWC"`` or
    ``"NCHW"``; ``None``: (batch, H, W) for grey, (batch, H, W, C) for colour)
    and returns (batch, n_classes) logits, or scores whose argmax is the class;
    it is called with at most ``batch_size`` images. For a PyTorch model::

        def predict(x):
            with torch.no_grad():
                return model(torch.from_numpy(x)).numpy()

        onepixel.NumpyModel(predict, layout="NCHW")
    """

    kind = "numpy"

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], *, batch_size: int = 256, layout=None):
        if not callable(predict):
            raise ValueError(f"NumpyModel: predict is a {type(predict).__name__}, not a callable")
        _check_batch_size("NumpyModel", batch_size)
        _check_layout("NumpyModel", layout)
        self.predict_fn = predict
        self.batch_size = batch_size
        self.layout = layout

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_fn(to_layout(images, self.layout)))


class OnnxModel:
    """An ONNX classifier run by onnxruntime on the CPU: a path or an ``onnx.ModelProto``.

    ``layout``: the graph input's layout; ``None`` reads it from the input's
    rank (4: NCHW, as ``torch.onnx.export`` writes it; 3: NHW). ``threads``:
    onnxruntime's intra-op threads (None: its default, every core). Needs
    ``pip install onnxruntime`` (the ``onnx`` extra).
    """

    kind = "onnx"

    def __init__(self, model, *, batch_size: int = 1024, layout=None, threads: int | None = None):
        _check_batch_size("OnnxModel", batch_size)
        if threads is not None:
            _check_batch_size("OnnxModel: threads", threads)
        _check_layout("OnnxModel", layout)
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(
                "model: an ONNX model needs onnxruntime; pip install 'onepixel[onnx]' (or onnxruntime)"
            ) from None
        if isinstance(model, str | os.PathLike):
            if not os.path.isfile(model):
                raise ValueError(f"model: ONNX file {os.fspath(model)!r} does not exist")
            source = os.fspath(model)
        else:
            source = model.SerializeToString()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings about unused initialisers
        if threads is not None:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"model: onnxruntime cannot load this ONNX model: {error}") from None
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        rank = len(graph_input.shape)
        if layout is None:
            layout = {3: "NHW", 4: "NCHW"}.get(rank)
            if layout is None:
                raise ValueError(f"model: ONNX input {self.input_name!r} has rank {rank}; images need 3 or 4")
        self.layout = layout
        self.batch_size = batch_size

    def predict(self, images: np.ndarray) -> np.ndarray:
        feed = to_layout(images.astype(np.float32, copy=False), self.layout)
        return np.asarray(self.session.run(None, {self.input_name: feed})[0])


class ArtModel:
    """An ART classifier: its ``predict``, with its channel order, input shape and clip values."""

    kind = "art"

    def __init__(self, classifier, batch_size: int = 256):
        self.classifier = classifier
        self.batch_size = batch_size
        shape = tuple(classifier.input_shape)
        channels_first = bool(getattr(classifier, "channels_first", False))
        if len(shape) == 2:
            self.layout = "NHW"
        elif len(shape) == 3:
            self.layout = "NCHW" if channels_first else "NHWC"
        else:
            raise ValueError(
                f"model: ART classifier input_shape {shape} is not an image (H, W) or with channels"
            )
        self.input_shape = shape
        clip = getattr(classifier, "clip_values", None)
        self.bounds = None if clip is None else (float(np.min(clip[0])), float(np.max(clip[1])))

    def predict(self, images: np.ndarray) -> np.ndarray:
        batch = to_layout(images, self.layout)
        return np.asarray(self.classifier.predict(batch, batch_size=self.batch_size))


def _is_art_classifier(model) -> bool:
    if not type(model).__module__.startswith("art."):
        return False
    with quiet_art_import():
        from art.estimators.classification.classifier import ClassifierMixin
    return isinstance(model, ClassifierMixin)


def _is_onnx(model) -> bool:
    if isinstance(model, str | os.PathLike):
        return os.fspath(model).endswith(".onnx")
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


class SearchModel:
    """One model for the search: ``predict`` (NumPy batches) and, for JAX models, ``apply``.

    ``cnn`` is set for an ``onepixel.CNN`` (the fast path); ``apply`` and
    ``variables`` for every JAX model (the jitted plain path); ``wrapped``
    (a ``NumpyModel``, ``OnnxModel`` or ``ArtModel``) otherwise.
    """

    def __init__(self, model, params):
        self.cnn = model if isinstance(model, CNN) else None
        self.apply = self.variables = self.wrapped = None
        self.bounds = None
        if isinstance(model, NumpyModel | OnnxModel | ArtModel):
            self.wrapped = model
        elif _is_onnx(model):
            self.wrapped = OnnxModel(model)
        elif _is_art_classifier(model):
            self.wrapped = ArtModel(model)
            self.bounds = self.wrapped.bounds
        elif isinstance(model, nn.Module):
            self.variables = (
                params if isinstance(params, Mapping) and "params" in params else {"params": params}
            )
            self.apply = lambda variables, x: model.apply(variables, x)
        elif callable(model) and not isinstance(model, type):
            self.apply, self.variables = model, params
        else:
            raise ValueError(
                f"model: {type(model).__name__} is not a model flip_search takes; use {ACCEPTED}"
            )
        if self.wrapped is not None and params is not None:
            raise ValueError(f"params: a {self.wrapped.kind} model holds its own weights; pass params=None")
        self.kind = "cnn" if self.cnn is not None else ("jax" if self.wrapped is None else self.wrapped.kind)
        # A CNN's params (the fast path reads its layers); a callable's as given.
        self.params = self.variables["params"] if isinstance(model, nn.Module) else params
        self.batch_size = None if self.wrapped is None else self.wrapped.batch_size

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits (B, n_classes) of float32 images (B, H, W[, C]), their shape checked."""
        logits = self.wrapped.predict(images)
        if logits.ndim != 2 or len(logits) != len(images):
            raise ValueError(
                f"model: predict returned shape {logits.shape} for {len(images)} images; "
                "expected (batch, n_classes) logits"
            )
        return logits
