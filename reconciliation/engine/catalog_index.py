"""A source's catalog as the matcher reads it — game id → (season, game date) — held compactly.

A dict of Python strings costs ~150 bytes a game: ~97 MB for the 640,744 games of the 3M-object bench
report, ~320 MB at 10M, the largest single part of a scan's peak memory (docs/benchmarks.md §11). Here
the ids are one bytes object of fixed-width UTF-8 entries in byte order, the seasons small codes and
the dates day numbers (~16 bytes a game), filled from rows the database streams in that order, so the
games never all live as Python objects at once. The matcher asks for one id at a time (keys handed
over by the columnar matcher, listings, S3 events): a binary search. The columnar matcher takes the
ids and seasons whole as Arrow arrays (`arrow_columns`, built once and shared by its alternatives).
"""
from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc


class _Entries(Sequence):
    """The fixed-width entries of the blob, as a sequence bisect can search."""

    def __init__(self, blob: bytes, width: int):
        self.blob, self.width, self.n = blob, width, len(blob) // width if width else 0

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        w = self.width
        return self.blob[i * w:(i + 1) * w]

    def __len__(self):
        return self.n


class CatalogIndex(Mapping):
    """Read-only mapping game id → (season, game_date). `rows` are (game id, season, game_date) in
    byte order of the game ids, each id once (the catalog's unique (source, game id)); `width` is the
    longest id's length in UTF-8 bytes."""

    def __init__(self, rows: Iterable[tuple[str, str, dt.date]], width: int):
        blob, codes, days, seasons = bytearray(), array("h"), array("i"), {}
        previous = b""
        for game_id, season, day in rows:
            key = game_id.encode().ljust(width, b"\0")
            if key <= previous:
                raise ValueError(f"catalog rows out of game id byte order at {game_id!r}")
            blob += key
            codes.append(seasons.setdefault(season, len(seasons)))
            days.append(day.toordinal())
            previous = key
        self._entries = _Entries(bytes(blob), width)
        self._width, self._codes, self._days, self._seasons = width, codes, days, list(seasons)
        self._arrow: tuple[pa.Array, pa.Array] | None = None

    def __getitem__(self, game_id: str) -> tuple[str, dt.date]:
        key = game_id.encode()
        if len(key) > self._width or b"\0" in key:
            raise KeyError(game_id)
        key = key.ljust(self._width, b"\0")
        i = bisect_left(self._entries, key)
        if i == len(self._entries) or self._entries[i] != key:
            raise KeyError(game_id)
        return self._seasons[self._codes[i]], dt.date.fromordinal(self._days[i])

    def __iter__(self) -> Iterator[str]:
        entries = self._entries
        return (entries[i].rstrip(b"\0").decode() for i in range(len(entries)))

    def __len__(self) -> int:
        return len(self._entries)

    def arrow_columns(self) -> tuple[pa.Array, pa.Array]:
        """(game ids, their seasons) as Arrow string arrays, in the same order."""
        if self._arrow is None:
            n = len(self._entries)
            fixed = pa.Array.from_buffers(pa.binary(max(self._width, 1)), n, [None, pa.py_buffer(self._entries.blob)])
            ids = pc.utf8_rtrim(fixed.cast(pa.binary()).cast(pa.string()), characters="\0")
            codes = pa.Array.from_buffers(pa.int16(), n, [None, pa.py_buffer(self._codes)])
            self._arrow = (ids, pa.array(self._seasons, pa.string()).take(codes))
        return self._arrow
