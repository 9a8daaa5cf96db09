"""``CapacityRecord``: a search's capacity tests, per (level, capacity group of ``Space.fit_groups``), as the most words
that fitted and the fewest that did not. Every test of a search reads a capacity only by comparing words with it,
so a capacity between the two answers all of them alike (``replay``)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

_NONE_FAILED = np.iinfo(np.int64).max


class CapacityRecord:
    """``fit`` and ``over`` [L, G] int64: per (level, group) the most words that fitted and the fewest that did not
    (int64 max while none failed). The compiled kernels update the arrays in place; ``separate`` swaps them."""

    def __init__(self, L: int, G: int):
        self.fit = np.zeros((L, G), dtype=np.int64)
        self.over = np.full((L, G), _NONE_FAILED, dtype=np.int64)

    def add(self, level: int, g: int, words: np.ndarray, fits: np.ndarray) -> None:
        """Tests of group ``g`` of ``level``: their ``words`` and whether each fitted."""
        if words.size == 0:
            return
        if fits.all():
            self.fit[level, g] = max(self.fit[level, g], int(words.max()))
        elif not fits.any():
            self.over[level, g] = min(self.over[level, g], int(words.min()))
        else:
            self.fit[level, g] = max(self.fit[level, g], int(words[fits].max()))
            self.over[level, g] = min(self.over[level, g], int(words[~fits].min()))

    def add_one(self, level: int, g: int, words: int, fits: bool) -> None:
        """One test of group ``g`` of ``level``."""
        if fits:
            self.fit[level, g] = max(self.fit[level, g], words)
        else:
            self.over[level, g] = min(self.over[level, g], words)

    @contextmanager
    def separate(self, levels: list[int], groups: list[int]):
        """Inside the block, tests go to blank arrays; on leaving, the list yielded receives their rows for
        ``levels`` (the first ``groups[j]`` groups of the j-th), which ``merge`` adds to a record whose levels at
        those positions have the same tiles and groups (for results shared between spaces)."""
        own = self.fit, self.over
        self.fit, self.over = np.zeros_like(own[0]), np.full_like(own[1], _NONE_FAILED)
        rows: list = []
        try:
            yield rows
            rows.extend((self.fit[l, :n].copy(), self.over[l, :n].copy()) for l, n in zip(levels, groups))
        finally:
            self.fit, self.over = own

    def merge(self, levels: list[int], rows: list) -> None:
        """Add the rows of ``separate`` (for ``levels``, by position)."""
        for l, (fit, over) in zip(levels, rows):
            n = len(fit)
            np.maximum(self.fit[l, :n], fit, out=self.fit[l, :n])
            np.minimum(self.over[l, :n], over, out=self.over[l, :n])
