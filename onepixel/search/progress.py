"""Progress of a long search: a tqdm bar on a terminal, a callback, and rate and ETA lines in the log."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("onepixel.search")

# The bar appears only for searches that take longer than this (seconds).
BAR_DELAY = 2.0


def check_progress(progress) -> None:
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ValueError(
            f"progress={progress!r}; use None (a bar on a terminal), True, False or a callback(done, total)"
        )


class Progress:
    """Counts done candidates of ``total``.

    ``progress``: None shows a tqdm bar when stderr is a terminal and the
    search runs longer than ``BAR_DELAY``, True always, False never; a
    callable is called as ``progress(done, total)`` instead.
    Every ``log_seconds`` a rate and ETA line goes to the ``onepixel.search``
    log (a workflow job's log file).
    """

    def __init__(
        self, total: int, progress=None, log_seconds: float = 30.0, description: str = "one-pixel search"
    ):
        self.total, self.done = total, 0
        self.callback = progress if callable(progress) and not isinstance(progress, bool) else None
        self.bar = None
        if self.callback is None and progress is not False:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                desc=description,
                unit="cand",
                unit_scale=True,
                # None: on a terminal, once the search has run BAR_DELAY; True: at once.
                delay=BAR_DELAY if progress is None else 0,
                disable=None if progress is None else False,
                leave=progress is True,
            )
        self.log_seconds = log_seconds
        self.started = self.last_log = time.perf_counter()

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        if self.callback is not None:
            self.callback(self.done, self.total)
        now = time.perf_counter()
        if now - self.last_log > self.log_seconds or self.done >= self.total:
            self.last_log = now
            rate = self.done / max(now - self.started, 1e-9)
            log.info(
                "search: %d / %d candidates (%.1f%%), %.0f candidates/s, ETA %.0f s",
                self.done,
                self.total,
                100 * self.done / max(self.total, 1),
                rate,
                (self.total - self.done) / max(rate, 1e-9),
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
