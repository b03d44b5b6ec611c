"""§10 in the analysis: dimension value combinations, open data types and cells that are not judged.

Pure, like reconciliation.domain.analysis (which calls it):

* expand_dimensions: a closed data type's partitions = its level's partitions × every combination of
  its dimensions' values for that season (the fixed level takes only values without a season);
* not_judged_reason: "no catalog" (a game- or date-level data type whose source has no catalog at all)
  or "open dimension NAME"; "" when the data type can list its partitions;
* analyze_open: an open data type's stored partitions, found per season: an empty one is an `empty`
  gap; with a declared count, completeness = min(1, non-empty / N) and a `short` gap for the rest;
  without, the cell is not judged (completeness None).

A stored partition is placed in its season by its level id: the season itself (season level), the
date's season (date level), the catalog's season of the game (game level; a game the catalog does not
know cannot be placed and is not counted), none (fixed level).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from itertools import product

from reconciliation.choices import GapKind, PatternLevel
from reconciliation.domain.analysis import PRESENT, CellCompleteness, GapFinding, priority_of, season_started_on
from reconciliation.domain.patterns import partition_id
from reconciliation.domain.seasons import season_of

NO_CATALOG = "no catalog"


def short_partition(season: str | None) -> str:
    """The stored partition of a short gap: one per (data type, season), apart from every stored
    partition (none starts with '/'); shown as "" (§10)."""
    return "/" + (season or "")


def not_judged_reason(spec, games) -> str:
    if spec.level in (PatternLevel.GAME, PatternLevel.DATE) and not games:
        return NO_CATALOG
    name = spec.open_dimension
    return f"open dimension {name}" if name else ""


def dimension_combinations(spec, season: str | None) -> list[tuple[str, ...]]:
    """Every combination of a closed data type's dimension values expected in a season's cell (the fixed
    level takes only the values without a season), in partition order."""
    key = None if spec.level == PatternLevel.FIXED else season
    return list(product(*(d.values_for(key) for d in spec.dimensions)))


def expand_dimensions(spec, expected: dict) -> dict:
    """Season → [(day, partition)] with every combination of the dimensions' values, in partition order."""
    if not spec.dimensions:
        return expected
    out = {}
    for season, parts in expected.items():
        combos = dimension_combinations(spec, season)
        out[season] = sorted((day, partition_id(level_id, combo)) for day, level_id in parts for combo in combos)
    return out


def stored_of(have, ids: set[int]) -> dict[int, list[tuple[str, object]]]:
    """data type id → its stored (partition, newest object or PRESENT), for the open data types only
    (one pass over HAVE, and none when there is no open data type)."""
    out: dict[int, list] = defaultdict(list)
    if ids:
        for (dt_id, partition), obj in have.items():
            if dt_id in ids:
                out[dt_id].append((partition, obj))
    return out


def _locate(spec, games_by_id: dict):
    """partition → (season, day) or None when it cannot be placed."""
    if spec.level == PatternLevel.FIXED:
        return lambda partition: (None, None)
    if spec.level == PatternLevel.SEASON:
        return lambda partition: (partition[:7], None)
    if spec.level == PatternLevel.DATE:
        def by_date(partition):
            day = dt.date.fromisoformat(partition[:10])
            return season_of(day), day
        return by_date
    return lambda partition: games_by_id.get(partition.split("/", 1)[0])


def open_seasons(spec, games, as_of: dt.date) -> list[str | None]:
    """The cells of an open data type: its covered seasons begun by as_of (season_started_on: each
    season's first game is all it uses of the catalog), or the fixed level's one (None)."""
    if spec.level == PatternLevel.FIXED:
        return [None]
    by_season = defaultdict(list)
    for g in games:
        by_season[g.season].append(g)
    return [s for s in spec.seasons if season_started_on(s, by_season.get(s, ())) <= as_of]


def analyze_open(spec, games, stored, inp, report, reason: str) -> None:
    seasons = open_seasons(spec, games, inp.as_of)
    wanted = set(seasons)
    locate = _locate(spec, {g.game_id: (g.season, g.game_date) for g in games} if spec.level == PatternLevel.GAME else {})
    found: Counter = Counter()
    empties = defaultdict(list)
    for partition, obj in stored:
        place = locate(partition)
        if place is None or place[0] not in wanted:
            continue
        if obj is not PRESENT and obj.size < spec.min_size_bytes:
            empties[place[0]].append((place[1], partition, obj))
        else:
            found[place[0]] += 1
    judge_open(spec, seasons, found, empties, inp.as_of, inp.critical_days, report, reason)


def judge_open(spec, seasons, found: Counter, empties: dict, as_of: dt.date, critical_days: int, report,
               reason: str) -> None:
    """An open data type's cells into the report: `found` = its non-empty partitions placed in each
    season, `empties` = season → (day, partition, newest object) of its empty ones. Also the step of
    the database's analysis (engine.gaps_sql), which places the partitions without loading HAVE."""
    count = spec.expected_count
    for season in seasons:
        n = found[season]
        if count:
            completeness = min(1.0, n / count)
            report.completeness.append(CellCompleteness(spec.source, spec.name, season, count, min(n, count),
                                                        completeness, counted=True))
        else:
            completeness = None
            report.completeness.append(CellCompleteness(spec.source, spec.name, season, 0, n, None, reason))
        judged = 1.0 if completeness is None else completeness

        def priority(kind, day):
            return str(priority_of(spec, kind=kind, season=season, day=day, cell_completeness=judged,
                                   as_of=as_of, critical_days=critical_days))

        for day, partition, obj in sorted(empties.get(season, ()), key=lambda e: (e[0] is None, e[0] or dt.date.min, e[1])):
            report.gaps.append(GapFinding(spec.id, spec.source, spec.name, season, partition, day,
                                          str(GapKind.EMPTY), priority(GapKind.EMPTY, day), obj))
        if count and n < count:
            report.gaps.append(GapFinding(spec.id, spec.source, spec.name, season, short_partition(season), None,
                                          str(GapKind.SHORT), priority(GapKind.SHORT, None), None,
                                          shortfall=count - n))
