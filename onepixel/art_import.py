"""Importing ART without closing the job's log files, printing its PyTorch notice or loading all of it."""

from __future__ import annotations

import importlib
import importlib.util
import logging.config
import sys
import types
import warnings
from contextlib import contextmanager


@contextmanager
def quiet_art_import():
    """Import ART's modules inside this block.

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
            yield
    finally:
        logging.config._clearExistingHandlers = clear


class _DeferredPackage(types.ModuleType):
    """An ART package whose ``__init__`` runs when a name it defines is first asked for.

    Its submodules load without it (they are set on it as they load); a name
    it does not hold yet (``art.__version__``, ``art.attacks.evasion.FastGradientMethod``)
    runs the package's own code in place, as ``import`` would have, and is then looked up.
    """

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType  # before running it: no recursion
        with quiet_art_import():
            self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def import_art_modules(*names: str) -> tuple[types.ModuleType, ...]:
    """ART's modules ``names`` (e.g. ``art.attacks.evasion.pixel_threshold``), its packages' imports deferred.

    Each ``__init__`` of ART's packages imports all of its siblings (``art``:
    every attack, defence, estimator and metric, and SciPy's statistics with
    them: 1.2-1.9 s a job, against ~0.3 s for the modules the DE attack uses).
    Where ART is not imported yet, its packages are made first without
    running their ``__init__``, which runs when a name only it defines is
    first asked for (``_DeferredPackage``): ``import art`` and everything
    after it work as usual, and the classes are the same objects.
    """
    if "art" not in sys.modules:
        # Every package above the modules, outermost first.
        packages = {name.rsplit(".", k)[0] for name in names for k in range(1, name.count(".") + 1)}
        for package in sorted(packages, key=lambda name: (name.count("."), name)):
            spec = importlib.util.find_spec(package)
            if spec is None:
                raise ImportError(f"{package} is not installed; run `make .venv/.installed`")
            module = importlib.util.module_from_spec(spec)
            module.__class__ = _DeferredPackage
            sys.modules[package] = module
            parent, _, child = package.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, module)
    with quiet_art_import():
        return tuple(importlib.import_module(name) for name in names)
