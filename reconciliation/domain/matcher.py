"""The partition matcher (SPEC §5, §10): for (store, full key), which data type and partition the key is.

Apart from reconciliation.domain.patterns (the placeholder grammar, compiling one pattern and its
inverse, expected_key) because this is the speed machinery over that grammar: it is built for
millions of keys. Patterns are grouped by source location (store + prefix) and, inside a location,
by the first path segment when that segment is literal; each group is one compiled regex with one
alternative per pattern, so a key costs a dict lookup or two and one regex match.

Decisions (docs/reconciliation-rules.md):
* Overlapping source locations: the longest location prefix is tried first, so a key under
  `nba_api_comprehensive/` is judged by nba_api before espn (at the bucket root). Falling back to
  a shorter location happens only when no pattern of the longer one matches.
* Inside a location, more specific patterns (more literal characters) are tried first.
* Game-level patterns that also carry season/date placeholders constrain the partition: when the
  catalog knows the game and its season (or date) disagrees with the key, the key does not match
  (it is left unmatched, so a misfiled object is visible rather than counted as present).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from reconciliation.choices import PatternLevel
from reconciliation.domain.patterns import (
    SEASON_PLACEHOLDERS,
    CompiledPattern,
    compile_pattern,
    date_value,
    dimension_order,
    partition_id,
    partition_of,
    pattern_body,
    season_value,
)
from reconciliation.domain.seasons import season_of


class Match(NamedTuple):
    data_type_id: int
    partition: str          # level id (game id, ISO date, "YYYY-YY" or "") + dimension values, '/'-joined
    season: str | None      # from season placeholders (for a date partition: the season of the date); else None


@dataclass(frozen=True, slots=True)
class MatcherSpec:
    """One data type as the matcher needs it. `store`/`prefix` as in storage.Location
    ("s3://bucket" + "raw/" or "", "file://" + "abs/path/")."""

    data_type_id: int
    store: str
    prefix: str
    patterns: tuple[str, ...]
    source: str = ""
    # game_id → (season, game_date) of this source's catalog; used to reject keys whose season/date
    # placeholders disagree with the catalog (game-level patterns with extra placeholders only).
    catalog: Mapping[str, tuple[str, dt.date]] | None = None


_MISS = object()
_new_match = tuple.__new__  # Match(...) without NamedTuple's Python-level __new__: ~3x cheaper
_CACHE_MAX = 200_000


@dataclass(slots=True)
class _Alt:
    data_type_id: int
    pattern: str                # the pattern text (relative to its source location)
    level: str
    prefix: str                 # group-name prefix inside the combined regex
    names: tuple[str, ...]
    index: dict[str, int]       # placeholder → group number in the combined regex
    catalog: Mapping[str, tuple[str, dt.date]] | None
    constrained: bool           # game level with season/date placeholders and a catalog to check
    regex: re.Pattern           # this alternative alone (same group names), for the rare fallback
    game_only: bool             # {game_id} is the only placeholder: the fast path
    game_group: int             # group number of {game_id} (0 when absent)
    season_groups: tuple[tuple[str, int], ...]  # (season placeholder, group number)
    date_group: int             # group number of {date} (0 when absent)
    cache: dict | None          # non-game levels (few distinct keys): full key → Match | None
    dims: tuple[int, ...] = ()  # group numbers of the dimension values, in partition order
    labels: tuple[str, ...] | None = None  # "name=" per dimension when the data type's patterns disagree


@dataclass(slots=True)
class _Group:
    regex: re.Pattern
    alts: dict[int, _Alt]  # outer group number → alternative, in the order they are tried
    location: str = ""     # the location prefix the alternatives are relative to (keys start with it)


def _build_group(items: list[tuple[MatcherSpec, CompiledPattern]], location: str) -> _Group:
    # More literal text first: the most specific pattern wins when two could match.
    items = sorted(items, key=lambda it: (-it[1].literal_length, it[0].data_type_id, it[1].pattern))
    bodies = []
    alts: dict[int, _Alt] = {}
    group_number = 1
    for n, (spec, cp) in enumerate(items):
        gp = f"a{n}_"
        body, names, _ = pattern_body(cp.pattern, gp)
        alt_source = f"(?P<{gp}>{body})"
        bodies.append(alt_source)
        order = dimension_order(spec.patterns)
        dims = order if order is not None else cp.dimensions
        # Named groups are numbered in order of appearance; back-references add none.
        alts[group_number] = _Alt(
            data_type_id=spec.data_type_id,
            pattern=cp.pattern,
            level=cp.level,
            prefix=gp,
            names=names,
            index={name: group_number + 1 + i for i, name in enumerate(names)},
            catalog=spec.catalog,
            constrained=bool(spec.catalog is not None and cp.level == PatternLevel.GAME
                             and set(names) & (SEASON_PLACEHOLDERS | {"date"})),
            regex=re.compile(alt_source + r"\Z"),
            game_only=names == ("game_id",),
            game_group=group_number + 1 + names.index("game_id") if "game_id" in names else 0,
            season_groups=tuple(
                (name, group_number + 1 + i) for i, name in enumerate(names) if name in SEASON_PLACEHOLDERS
            ),
            date_group=group_number + 1 + names.index("date") if "date" in names else 0,
            cache=None if cp.level == PatternLevel.GAME else {},
            dims=tuple(group_number + 1 + names.index(d) for d in dims),
            labels=None if order is not None else tuple(f"{d}=" for d in dims),
        )
        group_number += 1 + len(names)
    return _Group(regex=re.compile("(?:" + "|".join(bodies) + r")\Z"), alts=alts, location=location)


def _dimension_values(alt: _Alt, group) -> tuple[str, ...]:
    """The dimension values of a match (`group` is the match's group() or a name lookup)."""
    values = tuple(group(i) for i in alt.dims)
    return values if alt.labels is None else tuple(map(str.__add__, alt.labels, values))


class PartitionMatcher:
    """Map (store, full key) → Match over every active pattern of every source.

    Dispatch: each group of patterns is filed under its "dispatch path" — the location prefix plus
    the pattern's literal first segment (or the bare prefix for patterns starting with a
    placeholder). A key is looked up by its own leading paths, deepest first, which is the same as
    trying the longest (most specific) source location first."""

    def __init__(self, specs: Iterable[MatcherSpec]):
        specs = list(specs)
        by_location: dict[tuple[str, str], list[tuple[MatcherSpec, CompiledPattern]]] = defaultdict(list)
        for spec in specs:
            for pattern in spec.patterns:
                by_location[(spec.store, spec.prefix)].append((spec, compile_pattern(pattern)))
        dispatch: dict[str, dict[str, list[tuple[int, _Group]]]] = defaultdict(lambda: defaultdict(list))
        for (store, prefix), items in by_location.items():
            segmented: dict[str, list] = defaultdict(list)
            wild: list = []
            for spec, cp in items:
                (segmented[cp.first_segment] if cp.first_segment is not None else wild).append((spec, cp))
            for segment, group_items in segmented.items():
                # A pattern starting with a placeholder could also match keys of this segment.
                dispatch[store][prefix + segment].append((len(prefix), _build_group(group_items + wild, prefix)))
            if wild:
                dispatch[store][prefix[:-1] if prefix else ""].append((len(prefix), _build_group(wild, prefix)))
        self._tables: dict[str, tuple[dict[str, tuple[tuple[int, _Group], ...]], int]] = {}
        for store, table in dispatch.items():
            frozen = {k: tuple(sorted(v, key=lambda pg: -pg[0])) for k, v in table.items()}
            depth = max((k.count("/") + 1 for k in frozen if k), default=0)
            self._tables[store] = (frozen, depth)
        self.specs = specs

    def dispatch_table(self, store: str) -> tuple[Mapping[str, tuple[tuple[int, _Group], ...]], int] | None:
        """(dispatch path → ((offset, group), …) longest location first, depth) of a store, or None.
        For reconciliation.engine.columnar, which walks the same table a column at a time."""
        return self._tables.get(store)

    def match(self, store: str, key: str) -> Match | None:
        table = self._tables.get(store)
        if table is None:
            return None
        dispatch, depth = table
        i = key.find("/")
        if i <= 0:
            cuts = ()
        elif depth == 1:
            cuts = (i,)
        elif depth == 2:  # unrolled: most layouts are "prefix/segment/…"
            j = key.find("/", i + 1)
            cuts = (j, i) if j > 0 else (i,)
        else:
            found_cuts = []
            while i > 0 and len(found_cuts) < depth:
                found_cuts.append(i)
                i = key.find("/", i + 1)
            cuts = reversed(found_cuts)
        for i in cuts:  # deepest dispatch path first
            candidates = dispatch.get(key[:i])
            if candidates is not None:
                for offset, group in candidates:
                    m = group.regex.match(key, offset)
                    if m is None:
                        continue
                    alt = group.alts[m.lastindex]
                    if alt.game_only:  # the hot path: one placeholder, nothing to validate
                        return _new_match(Match, (alt.data_type_id, m.group(alt.game_group), None))
                    found = _resolve(group, alt, m, key, offset)
                    if found is not None:
                        return found
        candidates = dispatch.get("")
        if candidates is not None:
            for offset, group in candidates:
                m = group.regex.match(key, offset)
                if m is not None:
                    found = _resolve(group, group.alts[m.lastindex], m, key, offset)
                    if found is not None:
                        return found
        return None

def _resolve(group: _Group, alt: _Alt, m: re.Match, key: str, offset: int) -> Match | None:
    """Everything but the {game_id}-only fast path: validate the captured values; when they are
    rejected (20240231, 2023-25, a season that contradicts the catalog), try the later
    alternatives of the group one by one (rare)."""
    cache = alt.cache
    if cache is not None:
        found = cache.get(key, _MISS)
        if found is not _MISS:
            return found
    if alt.level == PatternLevel.GAME:
        found = _judge_game(alt, m)
    else:
        found = _judge(alt, {name: m.group(i) for name, i in alt.index.items()},
                       _dimension_values(alt, m.group) if alt.dims else ())
    if found is None:
        found = _match_rest(group, key[offset:], after=m.lastindex)
    if cache is not None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = found
    return found


def _judge_game(alt: _Alt, m: re.Match) -> Match | None:
    """A game-level key with extra placeholders: they must be valid, agree with each other and,
    when the catalog knows the game, with its season and date."""
    game_id = m.group(alt.game_group)
    season = None
    for name, number in alt.season_groups:
        value = season_value(name, m.group(number))
        if value is None or (season is not None and value != season):
            return None
        season = value
    day = None
    if alt.date_group:
        day = date_value(m.group(alt.date_group))
        if day is None or (season is not None and season_of(day) != season):
            return None
    if alt.constrained:
        known = alt.catalog.get(game_id)
        if known is not None:
            if season is not None and season != known[0]:
                return None
            if day is not None and day != known[1]:
                return None
    if alt.dims:
        game_id = partition_id(game_id, _dimension_values(alt, m.group))
    return _new_match(Match, (alt.data_type_id, game_id, season))


def _judge(alt: _Alt, values: dict[str, str], dimensions: tuple[str, ...] = ()) -> Match | None:
    result = partition_of(alt.level, values, dimensions)
    if result is None:
        return None
    partition, season = result
    if alt.constrained:
        known = alt.catalog.get(partition.split("/", 1)[0])
        if known is not None:
            if season is not None and season != known[0]:
                return None
            if values.get("date") is not None and date_value(values["date"]) != known[1]:
                return None
    return Match(alt.data_type_id, partition, season)


def _match_rest(group: _Group, rel: str, after: int) -> Match | None:
    for number in sorted(i for i in group.alts if i > after):
        alt = group.alts[number]
        m = alt.regex.match(rel)
        if m is None:
            continue
        dims = _dimension_values(alt, lambda i, alt=alt, m=m: m.group(i - number + 1)) if alt.dims else ()
        found = _judge(alt, {name: m.group(alt.prefix + name) for name in alt.names}, dims)
        if found is not None:
            return found
    return None
