"""The partition matcher over a column of keys (Apache Arrow), for scans of millions of objects.

    dt_ids, partitions = ColumnMatcher(matcher).match(store, keys)

gives, element by element, exactly what `[matcher.match(store, k) for k in keys]` gives
(data_type_id or null; partition or ""), at C speed for the common case. PartitionMatcher stays the
reference: this module only walks the same dispatch table in the same order, a column at a time.

For each key, PartitionMatcher.match tries the groups filed under the key's leading paths, deepest
first, then the groups filed under "", and inside a group the alternatives in order; the first
alternative whose regex matches the whole key decides (or, when its captured values are rejected,
the search goes on). Here:

* every alternative gets an RE2 twin (Arrow's regex engine) that matches the same keys: the same
  literals and value classes (`\\d` as `\\p{Nd}`, Unicode digits like Python's), anchored at both ends;
* keys are tested against the alternatives in that same order, and each key is *claimed* by the first
  alternative that matches it;
* when that alternative has only `{game_id}` (nothing to validate), the answer is taken here: the game
  id is the key minus the alternative's literal prefix and suffix;
* a `{game_id}` alternative with season placeholders (each once, no `{date}`) is validated here too:
  each distinct captured value goes through the matcher's own season parser, the placeholders must
  agree, and a game the catalog knows must be of that season; keys that pass are decided here;
* any other claimed key (a rejected value, `{date}` to validate, a placeholder used twice, which RE2
  cannot express, a date or season partition) is handed to PartitionMatcher.match itself, which
  decides it from scratch — so the rare cases keep exactly one implementation;
* keys no alternative matches are unmatched, as PartitionMatcher would say.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from reconciliation.domain.matcher import PartitionMatcher
from reconciliation.engine.catalog_index import CatalogIndex
from reconciliation.domain.patterns import SEASON_PLACEHOLDERS, is_dimension, season_value, tokens, value_regex


def _re2_value(name: str, shared: bool) -> str:
    # Python's `\d` (str patterns) is any Unicode decimal digit; RE2's is ASCII only. RE2's lazy `+?`
    # picks the same submatch as Python's (leftmost-shortest for dimensions sharing a segment).
    return value_regex(name, shared).replace(r"\d", r"\p{Nd}")


def _re2_literal(text: str) -> str:
    """RE2-safe literal: ASCII letters/digits and non-ASCII as they are, everything else as \\x{..}."""
    return "".join(c if (c.isascii() and c.isalnum()) or not c.isascii() else f"\\x{{{ord(c):x}}}" for c in text)


@dataclass(frozen=True, slots=True)
class _Alternative:
    data_type_id: int
    regex: str          # RE2, whole key; the exact twin when decided here, else a superset
    mode: str           # GAME: {game_id} once; SEASONED: + season placeholders once; else HANDED
    cut_start: int = 0  # GAME: bytes of literal text before the game id …
    cut_end: int = 0    # … and after it
    capture: str = ""   # SEASONED: the regex with named groups g (game id), s0, s1, … (season values)
    seasons: tuple[str, ...] = ()  # SEASONED: the placeholder of s0, s1, …
    catalog_ids: pa.Array | None = None  # SEASONED + catalog: the catalog's game ids …
    catalog_seasons: pa.Array | None = None  # … and their seasons, in the same order
    pieces: tuple[tuple[str, str], ...] = ()  # DIMENSIONED: (label, group) per partition piece, in order


GAME, SEASONED, DIMENSIONED, HANDED = "game", "seasoned", "dimensioned", "handed"


def _alternative(location: str, alt) -> _Alternative:
    pattern = alt.pattern
    parts, capture, names, pos = [_re2_literal(location)], [_re2_literal(location)], [], 0
    for m, name, shared in tokens(pattern):
        literal = _re2_literal(pattern[pos:m.start()])
        value = _re2_value(name, shared)
        parts += [literal, f"(?:{value})"]  # a repeat would be a back-reference: a superset here
        if is_dimension(name):
            group = f"d{len([n for n in names if is_dimension(n)])}"
        else:
            group = "g" if name == "game_id" else f"s{len([n for n in names if not is_dimension(n)]) - ('game_id' in names)}"
        capture += [literal, f"(?P<{group}>{value})"]
        names.append(name)
        pos = m.end()
    parts.append(_re2_literal(pattern[pos:]))
    capture.append(_re2_literal(pattern[pos:]))
    regex = "^" + "".join(parts) + r"\z"
    if names == ["game_id"]:
        head, _, tail = pattern.partition("{game_id}")
        return _Alternative(alt.data_type_id, regex, GAME, len((location + head).encode()), len(tail.encode()))
    dims = [n for n in names if is_dimension(n)]
    others = [n for n in names if n != "game_id" and not is_dimension(n)]
    if dims and not others and len(set(names)) == len(names):
        # {game_id} (or nothing) and dimensions, each once: the partition id is their values joined
        name_of = {number: name for name, number in alt.index.items()}
        by_partition = [f"d{dims.index(name_of[number])}" for number in alt.dims]  # the partition's order
        labels = alt.labels or ("",) * len(by_partition)
        pieces = ((("", "g"),) if "game_id" in names else ()) + tuple(zip(labels, by_partition))
        return _Alternative(alt.data_type_id, regex, DIMENSIONED, capture="^" + "".join(capture) + r"\z",
                            pieces=pieces)
    if dims:
        return _Alternative(alt.data_type_id, regex, HANDED)
    if names.count("game_id") == 1 and len(set(others)) == len(others) and set(others) <= SEASON_PLACEHOLDERS:
        ids = seasons = None
        if alt.constrained and isinstance(alt.catalog, CatalogIndex):  # the database's: shared arrays
            ids, seasons = alt.catalog.arrow_columns()
        elif alt.constrained:
            ids = pa.array(list(alt.catalog), pa.string())
            seasons = pa.array([known[0] for known in alt.catalog.values()], pa.string())
        return _Alternative(alt.data_type_id, regex, SEASONED, capture="^" + "".join(capture) + r"\z",
                            seasons=tuple(others), catalog_ids=ids, catalog_seasons=seasons)
    return _Alternative(alt.data_type_id, regex, HANDED)


class ColumnMatcher:
    def __init__(self, matcher: PartitionMatcher):
        self.matcher = matcher
        self._plans: dict[str, tuple[list[tuple[str, list[_Alternative]]], list[_Alternative]]] = {}

    def _plan(self, store: str):
        """(non-empty dispatch paths, longest first, each with its alternatives in order; the "" ones)."""
        plan = self._plans.get(store)
        if plan is None:
            table = self.matcher.dispatch_table(store)
            paths: list[tuple[str, list[_Alternative]]] = []
            root: list[_Alternative] = []
            if table is not None:
                dispatch, _depth = table
                for path in sorted(dispatch, key=len, reverse=True):
                    alts = [_alternative(group.location, alt) for _offset, group in dispatch[path]
                            for alt in group.alts.values()]
                    (paths.append((path, alts)) if path else root.extend(alts))
            plan = self._plans[store] = (paths, root)
        return plan

    def match(self, store: str, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(data_type_id: int64, null when unmatched; partition: string, "" when unmatched), in key order."""
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        n = len(keys)
        paths, root = self._plan(store)
        pieces: list[tuple[pa.Array, pa.Array, pa.Array]] = []  # (row numbers, data type ids, partitions)
        handed: list[pa.Array] = []                              # row numbers for PartitionMatcher.match
        rows = row_numbers(n)
        todo_rows, todo_keys = rows, keys
        if paths and n:
            # PartitionMatcher looks a key up by its leading paths only when it does not start with "/".
            lead = pc.invert(pc.starts_with(keys, "/"))
            todo_rows, todo_keys = rows.filter(lead), keys.filter(lead)
            rest_rows, rest_keys = [rows.filter(pc.invert(lead))], [keys.filter(pc.invert(lead))]
            for path, alts in paths:
                under = pc.starts_with(todo_keys, path + "/")
                if not pc.any(under).as_py():
                    continue
                cand_rows, cand_keys = todo_rows.filter(under), todo_keys.filter(under)
                out = pc.invert(under)
                todo_rows, todo_keys = todo_rows.filter(out), todo_keys.filter(out)
                cand_rows, cand_keys = self._claim(alts, cand_rows, cand_keys, pieces, handed)
                todo_rows, todo_keys = pa.concat_arrays([todo_rows, cand_rows]), pa.concat_arrays([todo_keys, cand_keys])
            todo_rows = pa.concat_arrays([todo_rows, *rest_rows])
            todo_keys = pa.concat_arrays([todo_keys, *rest_keys])
        if root and len(todo_rows):
            todo_rows, todo_keys = self._claim(root, todo_rows, todo_keys, pieces, handed)
        if len(todo_rows):
            pieces.append((todo_rows, pa.nulls(len(todo_rows), pa.int64()), pa.repeat(pa.scalar("", pa.string()), len(todo_rows))))
        for handed_rows in handed:
            found = [self.matcher.match(store, key) for key in keys.take(handed_rows).to_pylist()]
            pieces.append((handed_rows, pa.array([m.data_type_id if m else None for m in found], pa.int64()),
                           pa.array([m.partition if m else "" for m in found], pa.string())))
        if not pieces:
            return pa.array([], pa.int64()), pa.array([], pa.string())
        order = pc.sort_indices(pa.concat_arrays([p[0] for p in pieces]))
        return (pa.concat_arrays([p[1] for p in pieces]).take(order),
                pa.concat_arrays([p[2] for p in pieces]).take(order))

    @staticmethod
    def _claim(alts, rows, keys, pieces, handed):
        """Give each key to the first alternative matching it; return the keys none matched."""
        for alt in alts:
            if not len(rows):
                break
            hit = pc.match_substring_regex(keys, alt.regex)
            if not pc.any(hit).as_py():
                continue
            hit_rows, hit_keys = rows.filter(hit), keys.filter(hit)
            if alt.mode == GAME:
                stop = -alt.cut_end if alt.cut_end else None
                game_ids = pc.binary_slice(hit_keys.cast(pa.binary()), alt.cut_start, stop).cast(pa.string())
                pieces.append((hit_rows, pa.repeat(pa.scalar(alt.data_type_id, pa.int64()), len(hit_rows)), game_ids))
            elif alt.mode == DIMENSIONED:
                pieces.append((hit_rows, pa.repeat(pa.scalar(alt.data_type_id, pa.int64()), len(hit_rows)),
                               _dimensioned(alt, hit_keys)))
            elif alt.mode == SEASONED:
                game_ids, ok = _seasoned(alt, hit_keys)
                pieces.append((hit_rows.filter(ok), pa.repeat(pa.scalar(alt.data_type_id, pa.int64()), pc.sum(ok).as_py() or 0),
                               game_ids.filter(ok)))
                rejected = pc.invert(ok)
                if pc.any(rejected).as_py():
                    handed.append(hit_rows.filter(rejected))
            else:
                handed.append(hit_rows)
            miss = pc.invert(hit)
            rows, keys = rows.filter(miss), keys.filter(miss)
        return rows, keys


def _dimensioned(alt: _Alternative, keys: pa.Array) -> pa.Array:
    """Partition ids of keys an alternative with only {game_id} and dimensions matched: the values
    joined with '/' in partition order (labelled `name=value` when the data type's patterns disagree)."""
    parts = pc.extract_regex(keys, alt.capture)
    columns = []
    for label, group in alt.pieces:
        values = pc.struct_field(parts, group)
        columns.append(pc.binary_join_element_wise(label, values, "") if label else values)
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, "/")


def _seasoned(alt: _Alternative, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(game ids, keys whose season placeholders are valid, agree, and agree with the catalog)."""
    parts = pc.extract_regex(keys, alt.capture)
    game_ids = pc.struct_field(parts, "g")
    season = None
    for i, name in enumerate(alt.seasons):
        encoded = pc.struct_field(parts, f"s{i}").dictionary_encode()
        parsed = pa.array([season_value(name, text) for text in encoded.dictionary.to_pylist()], pa.string())
        value = parsed.take(encoded.indices)  # null where the value is not a valid season
        season = value if season is None else pc.if_else(pc.equal(season, value), season, pa.scalar(None, pa.string()))
    if alt.catalog_ids is not None:
        known = catalog_lookup(game_ids, alt.catalog_ids, alt.catalog_seasons)
        season = pc.if_else(pc.fill_null(pc.not_equal(known, season), False), pa.scalar(None, pa.string()), season)
    return game_ids, pc.is_valid(season)


def catalog_lookup(game_ids: pa.Array, catalog_ids: pa.Array, catalog_seasons: pa.Array) -> pa.Array:
    """The catalog's season of each game id (null for a game the catalog does not know, or a null id);
    for an id listed twice in the catalog, its first entry — pc.index_in's answer, whichever way it runs.

    All in Arrow: a dict lookup in Python per key (hundreds of thousands) would cost far more. index_in
    hashes its value set on every call, so the smaller side is the one hashed: a batch's keys against a
    catalog of thousands of games, or — a catalog of 200k games against a batch's 20k keys — the
    batch's distinct ids, with the whole catalog probed against them (6 ms instead of 18–25 ms a call:
    0.32 → 0.07 s of CPU over the bench's million-object scan, docs/benchmarks.md)."""
    if len(catalog_ids) <= len(game_ids):
        return catalog_seasons.take(pc.index_in(game_ids, value_set=catalog_ids))
    encoded = game_ids.dictionary_encode()  # distinct ids; a null id stays a null index
    distinct = encoded.dictionary
    position = pc.index_in(catalog_ids, value_set=distinct)  # per catalog entry: which distinct id, or null
    found = pc.is_valid(position)
    # per distinct id: its first catalog entry among those found (filter keeps the catalog's order)
    first = pc.index_in(row_numbers(len(distinct)), value_set=position.filter(found))
    return catalog_seasons.filter(found).take(first).take(encoded.indices)


def row_numbers(n: int) -> pa.Array:
    """0 … n-1 as int64, built in C (no list of a million Python ints)."""
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1) if n else pa.array([], pa.int64())


