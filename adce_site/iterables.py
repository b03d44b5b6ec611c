"""Slices of a list, for the queries that send a bounded number of ids at a time (IN (...) lists)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (itertools.batched is Python 3.12+)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
