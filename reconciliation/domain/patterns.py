"""Key patterns (SPEC §5) and the partition matcher.

A pattern is relative to its source's location and may contain the placeholders {game_id},
{date} (YYYYMMDD), {season} (YYYY-YY), {season_start} (YYYY) and {season_end} (YYYY). A key
matches only exactly: whole key, case-sensitive, literal parts escaped.

The matcher answers, for (store, full key), which data type and partition the key is. It is built
for millions of keys: patterns are grouped by source location (store + prefix) and, inside a
location, by the first path segment when that segment is literal; each group is one compiled
regex with one alternative per pattern, so a key costs a dict lookup or two and one regex match.

Decisions (docs/reconciliation-rules.md):
* {game_id} matches one non-empty path segment part (`[^/]+`); {date} must be a real date;
  season placeholders must be a valid season and agree with each other ({season_start} + 1 =
  {season_end}); a placeholder used twice must have the same value both times.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from reconciliation.choices import PatternLevel
from reconciliation.domain.seasons import SeasonError, normalize_season, season_from_end_year, season_from_start_year, season_of

PLACEHOLDERS = ("game_id", "date", "season", "season_start", "season_end")
SEASON_PLACEHOLDERS = frozenset({"season", "season_start", "season_end"})
# §10: {year} is {season_end} (the original's hoopR files nba_data_2024.parquet hold 2023-24).
ALIASES = {"year": "season_end"}
_DIMENSION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIMENSION_VALUE = r"[^/]+"  # §10: one or more characters other than '/'

_VALUE_REGEX = {
    "game_id": r"[^/]+",
    "date": r"\d{8}",
    "season": r"\d{4}-\d{2}",
    "season_start": r"\d{4}",
    "season_end": r"\d{4}",
}
_TOKEN = re.compile(r"\{([^{}]*)\}")


class PatternError(ValueError):
    """A pattern that cannot be used (unknown placeholder, stray brace, empty, mixed levels)."""


def canonical(name: str) -> str:
    """The placeholder a written name stands for ({year} → season_end); PatternError for a name that is
    neither a §5 placeholder nor a valid dimension name."""
    name = ALIASES.get(name, name)
    if name not in _VALUE_REGEX and not _DIMENSION_NAME.fullmatch(name):
        raise PatternError(f"invalid placeholder {{{name}}}")
    return name


def is_dimension(name: str) -> bool:
    return name not in _VALUE_REGEX


def value_regex(name: str, shared: bool = False) -> str:
    """The regex of one (canonical) placeholder. In a path segment shared with another placeholder the
    `[^/]+` classes are lazy: the match is the leftmost-shortest one ({player1}_{player2} on a_b_c gives
    a, b_c). Alone in its segment, lazy and greedy match the same (the pattern is anchored)."""
    regex = _VALUE_REGEX.get(name, _DIMENSION_VALUE)
    return regex + "?" if shared and regex == _DIMENSION_VALUE else regex


def tokens(pattern: str) -> list[tuple[re.Match, str, bool]]:
    """(match, canonical name, shares its path segment with another placeholder) per placeholder."""
    found = list(_TOKEN.finditer(pattern))
    segment_of = [pattern.count("/", 0, m.start()) for m in found]
    return [(m, canonical(m.group(1)), segment_of.count(segment_of[i]) > 1) for i, m in enumerate(found)]


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    pattern: str
    level: str                      # PatternLevel value
    regex: re.Pattern               # anchored, whole relative key; named groups = placeholders
    placeholders: tuple[str, ...]   # distinct canonical names (dimensions too), in order of first appearance
    body: str                       # regex source without anchors, named groups unprefixed
    literal_length: int             # characters of literal text, for specificity ordering
    first_segment: str | None       # literal first path segment, or None when it has a placeholder

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The §10 dimensions (placeholders beyond §5's), in order of first appearance."""
        return tuple(n for n in self.placeholders if is_dimension(n))


def _level_of(placeholders: Iterable[str]) -> str:
    names = set(placeholders)
    if "game_id" in names:
        return PatternLevel.GAME
    if "date" in names:
        return PatternLevel.DATE
    if names & SEASON_PLACEHOLDERS:
        return PatternLevel.SEASON
    return PatternLevel.FIXED


def _body(pattern: str, group_prefix: str = "") -> tuple[str, tuple[str, ...], int]:
    parts: list[str] = []
    seen: list[str] = []
    literal_length = 0
    pos = 0
    for m, name, shared in tokens(pattern):
        literal = pattern[pos:m.start()]
        if "{" in literal or "}" in literal:
            raise PatternError(f"stray brace in {pattern!r}")
        parts.append(re.escape(literal))
        literal_length += len(literal)
        if name in seen:
            parts.append(f"(?P={group_prefix}{name})")
        else:
            seen.append(name)
            parts.append(f"(?P<{group_prefix}{name}>{value_regex(name, shared)})")
        pos = m.end()
    tail = pattern[pos:]
    if "{" in tail or "}" in tail:
        raise PatternError(f"stray brace in {pattern!r}")
    parts.append(re.escape(tail))
    literal_length += len(tail)
    return "".join(parts), tuple(seen), literal_length


def compile_pattern(pattern: str) -> CompiledPattern:
    """Validate and compile one pattern. PatternError says what is wrong (the caller adds file/key)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("a pattern must be a non-empty string")
    if pattern.startswith("/"):
        raise PatternError(f"pattern {pattern!r} must be relative to the source location (no leading '/')")
    body, names, literal_length = _body(pattern)
    first = pattern.split("/", 1)[0]
    first_segment = first if "/" in pattern and "{" not in first else None
    return CompiledPattern(
        pattern=pattern,
        level=str(_level_of(names)),
        regex=re.compile(body + r"\Z"),
        placeholders=names,
        body=body,
        literal_length=literal_length,
        first_segment=first_segment,
    )


# --------------------------------------------------------------------------------------------
# Partition values from a match


@lru_cache(maxsize=4096)
def _season_value(name: str, text: str) -> str | None:
    try:
        if name == "season":
            return normalize_season(text)
        year = int(text)
        return season_from_start_year(year) if name == "season_start" else season_from_end_year(year)
    except (SeasonError, ValueError):
        return None


@lru_cache(maxsize=65536)
def _date_value(text: str) -> dt.date | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def partition_id(level_id: str, dimension_values: Sequence[str] = ()) -> str:
    """§10: the level's id followed by the dimension values, joined with '/' ("" level ids dropped).
    Season-level partitions keep their season as the level id here, so that a dimension value is one
    partition per season; public_partition() drops it for display."""
    return "/".join((level_id, *dimension_values)) if level_id else "/".join(dimension_values)


def public_partition(level: str, partition: str) -> str:
    """The §10 partition id of a stored one: season level ids are "nothing" (the season is its own field)."""
    if level == PatternLevel.SEASON:
        return partition[8:] if len(partition) > 7 and partition[7] == "/" else ("" if len(partition) == 7 else partition)
    return partition


def partition_of(level: str, values: Mapping[str, str], dimensions: Sequence[str] = ()) -> tuple[str, str | None] | None:
    """(partition, season-from-the-key) for the captured placeholder values, or None when the
    values are not valid (impossible date, invalid or inconsistent season placeholders).
    `dimensions` are the dimension values, in partition order."""
    season = None
    for name in ("season", "season_start", "season_end"):
        text = values.get(name)
        if text is not None:
            value = _season_value(name, text)
            if value is None or (season is not None and value != season):
                return None
            season = value
    day = None
    text = values.get("date")
    if text is not None:
        day = _date_value(text)
        if day is None or (season is not None and season_of(day) != season):
            return None
    if level == PatternLevel.GAME:
        return partition_id(values["game_id"], dimensions), season
    if level == PatternLevel.DATE:
        return partition_id(day.isoformat(), dimensions), season_of(day)
    if level == PatternLevel.SEASON:
        return partition_id(season, dimensions), season
    return partition_id("", dimensions), None


def expected_key(pattern: str, *, partition: str, season: str | None, day: dt.date | None) -> str:
    """The relative key `pattern` expects for one partition (the inverse of matching), for the gap page:
    {game_id} is a game partition, {date} the game's (or the date partition's) date as YYYYMMDD, the
    season placeholders come from `season`, dimensions from the partition's dimension values (in the
    pattern's order). A placeholder with no known value stays as written."""
    level = _level_of(canonical(n) for n in _TOKEN.findall(pattern))
    pieces = partition.split("/") if partition else []
    level_id = pieces.pop(0) if pieces and level != PatternLevel.FIXED else ""
    if day is None and len(level_id) == 10 and level_id[4] == "-":
        try:
            day = dt.date.fromisoformat(level_id)
        except ValueError:
            day = None
    start = None
    if season:
        try:
            start = int(normalize_season(season)[:4])
        except (SeasonError, ValueError):
            start = None
    values = {
        "game_id": level_id if level == PatternLevel.GAME and level_id else None,
        "date": day.strftime("%Y%m%d") if day else None,
        "season": season_from_start_year(start) if start else None,
        "season_start": str(start) if start else None,
        "season_end": str(start + 1) if start else None,
    }
    dims = [n for n in dict.fromkeys(canonical(n) for n in _TOKEN.findall(pattern)) if is_dimension(n)]
    values.update(zip(dims, pieces))
    return _TOKEN.sub(lambda m: values.get(canonical(m.group(1))) or m.group(0), pattern)


def dimension_order(patterns: Sequence[str]) -> tuple[str, ...] | None:
    """The order of a data type's dimension values in its partition ids: as they first appear in its
    first pattern (§10). None when its patterns disagree on the set of dimensions (allowed only when
    all are open): each pattern's values are then labelled `name=value`, which keeps them apart."""
    sets = [compile_pattern(p).dimensions for p in patterns]
    return sets[0] if all(set(d) == set(sets[0]) for d in sets) else None


# --------------------------------------------------------------------------------------------
# The matcher


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

    @classmethod
    def from_location(cls, data_type_id: int, location: str, patterns: Sequence[str], **kw) -> "MatcherSpec":
        from reconciliation.storage import parse_location

        loc = parse_location(location)
        return cls(data_type_id=data_type_id, store=loc.store, prefix=loc.prefix, patterns=tuple(patterns), **kw)


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
        body, names, _ = _body(cp.pattern, gp)
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
        value = _season_value(name, m.group(number))
        if value is None or (season is not None and value != season):
            return None
        season = value
    day = None
    if alt.date_group:
        day = _date_value(m.group(alt.date_group))
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
            if values.get("date") is not None and _date_value(values["date"]) != known[1]:
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
