"""Importing ART without closing the job's log files or printing its PyTorch notice."""

from __future__ import annotations

import logging.config
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
