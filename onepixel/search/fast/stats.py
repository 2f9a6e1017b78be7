"""Counts and per-stage seconds of a fast search."""

from __future__ import annotations

from dataclasses import dataclass

import jax


def bucket(n: int, smallest: int) -> int:
    """Round up to a power of two times ``smallest``: few distinct shapes to compile."""
    calls = -(-n // smallest)
    return smallest * (1 << max(calls - 1, 0).bit_length())


@dataclass
class FastSearchStats:
    """Counts and per-stage seconds of a fast search.

    Stages overlap (calls are asynchronous) unless ``synchronize`` is set,
    which waits at every stage boundary: exact per-stage seconds, a slower run.
    """

    synchronize: bool = False
    candidates: int = 0
    unique_pairs: int = 0
    unique_patches: int = 0
    bands: int = 0
    seconds_base: float = 0.0
    seconds_bands: float = 0.0
    seconds_dedup: float = 0.0
    seconds_tables: float = 0.0
    seconds_changes: float = 0.0
    seconds_margins: float = 0.0

    def wait(self, value):
        return jax.block_until_ready(value) if self.synchronize else value

    @property
    def dedup_factor(self) -> float:
        return self.candidates / max(self.unique_pairs, 1)

    def profile(self) -> dict[str, float]:
        return {
            "base forward": self.seconds_base,
            "last-block bands": self.seconds_bands,
            "window dedup": self.seconds_dedup,
            "prefix tables": self.seconds_tables,
            "window changes": self.seconds_changes,
            "candidate margins": self.seconds_margins,
        }
