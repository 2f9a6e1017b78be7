"""onepixel: exhaustive one-pixel adversarial studies (Kügler et al., 2018).

The complete set of successful one-pixel changes of an image set, exactly:

    import onepixel
    arch = onepixel.Architecture(size=16)
    cube = onepixel.flip_search(onepixel.CNN(arch), params, images, labels)
    cube["adversarial"]  # (image, row, col): every one-pixel adversarial example

Any model: an ``onepixel.CNN`` (the exact fast search; ``CNN.from_onnx`` reads
one exported from PyTorch), a JAX callable, ``NumpyModel(predict)``, an ART
classifier or an ONNX model; binary, grey or colour images (``bounds=``).

``train`` trains a CNN to training accuracy 1.0 (the paper's loss, any number of
classes); ``load_network`` and ``open_cube`` read a study's checkpoints and cubes.
"""

import importlib

__version__ = "0.1.0"
__all__ = [
    "CNN",
    "Architecture",
    "Network",
    "NumpyModel",
    "OnnxModel",
    "flip_search",
    "load_network",
    "make_dataset",
    "open_cube",
    "scenarios",
    "train",
]

# Imported on first use (PEP 562): `import onepixel.study.runtime` must not import JAX,
# because the workflow's jobs set XLA's threads and flags before JAX starts.
_EXPORTS = {
    "CNN": "onepixel.models.cnn",
    "Architecture": "onepixel.models.architecture",
    "Network": "onepixel.training.checkpoint",
    "NumpyModel": "onepixel.search.models",
    "OnnxModel": "onepixel.search.models",
    "flip_search": "onepixel.search.api",
    "load_network": "onepixel.training.checkpoint",
    "open_cube": "onepixel.search.cube",
    "make_dataset": "onepixel.data.scenarios",
    "scenarios": "onepixel.data.scenarios",
    "train": "onepixel.training.train",
}


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'onepixel' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
