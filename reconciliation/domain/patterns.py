"""Key patterns (SPEC §5, §10): the placeholder grammar, compiling one pattern, and its inverse.

A pattern is relative to its source's location and may contain the placeholders {game_id},
{date} (YYYYMMDD), {season} (YYYY-YY), {season_start} (YYYY) and {season_end} (YYYY). A key
matches only exactly: whole key, case-sensitive, literal parts escaped.

This module owns what a pattern means: its level, its dimensions, the partition id that captured
values make (partition_of) and the key a partition is expected at (expected_key). Matching millions
of keys against every pattern is reconciliation.domain.matcher, built on this.

Decisions (docs/reconciliation-rules.md):
* {game_id} matches one non-empty path segment part (`[^/]+`); {date} must be a real date;
  season placeholders must be a valid season and agree with each other ({season_start} + 1 =
  {season_end}); a placeholder used twice must have the same value both times.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

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


def pattern_body(pattern: str, group_prefix: str = "") -> tuple[str, tuple[str, ...], int]:
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
    body, names, literal_length = pattern_body(pattern)
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
def season_value(name: str, text: str) -> str | None:
    try:
        if name == "season":
            return normalize_season(text)
        year = int(text)
        return season_from_start_year(year) if name == "season_start" else season_from_end_year(year)
    except (SeasonError, ValueError):
        return None


@lru_cache(maxsize=65536)
def date_value(text: str) -> dt.date | None:
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
            value = season_value(name, text)
            if value is None or (season is not None and value != season):
                return None
            season = value
    day = None
    text = values.get("date")
    if text is not None:
        day = date_value(text)
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
