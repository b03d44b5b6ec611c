"""The anti-join in the database (issue 23): a data type analysed without loading HAVE.

    in_database(spec) -> bool                                       # can this data type be analysed here
    analyse(spec, as_of, critical_days, starts) -> AnalysisReport   # the same answer as analysis.analyze

The expected partitions, LEFT JOINed with the data type's present partitions aggregated in SQL (for
each expected partition whether it has an object under the source's current location and whether one
of them is a suspect: verdict_sql), come from the domain's rules, never restated here:

* game and date level: the catalog table by domain.expectation's rule (compiled here, as verdict_sql
  compiles domain.verdict's); with closed dimensions (§10) each catalog partition joined with the
  season's value combinations (open_types.dimension_combinations, sent as a VALUES list);
* season and fixed level (with or without closed dimensions): a handful per season, listed by
  analysis.expected_partitions and open_types.expand_dimensions from the seasons' first games (the
  caller's `starts`), sent as a VALUES list.

Python receives each season's expected count and only the partitions that are missing or hold a
suspect; a suspect partition is judged on its newest object (engine.have.newest_of, the pure verdict),
and every cell goes through analysis.judge_cell. Memory grows with the gaps, not with the objects or
the catalog. An open data type (§10: found, not listed partitions) is not anti-joined: its present
partitions are placed in their seasons here (placed_sql, as open_types places them) and judged by
open_types.judge_open.
Decisions: docs/scan-and-reconcile.md.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence

from reconciliation.choices import PatternLevel
from reconciliation.domain.analysis import AnalysisReport, DataTypeSpec, GameSpec, expected_partitions, judge_cell
from reconciliation.domain.expectation import CatalogExpectation, catalog_expectation
from reconciliation.domain.open_types import NO_CATALOG, dimension_combinations, expand_dimensions, judge_open, \
    not_judged_reason, open_seasons
from reconciliation.domain.seasons import season_days
from reconciliation.domain.patterns import partition_id
from reconciliation.domain.verdict import partition_verdict, verdict_rule
from reconciliation.engine.duck_sql import InventorySQL, inventory_sql
from reconciliation.engine.have import here_sql, newest_of, verdict_sql
from reconciliation.models import DataType

# The most (season, value combination or partition) rows one data type sends as a VALUES list (two each):
# far above the YAML's and the dimension catalogs' sizes (tens of values), far below SQLite's 32,766
# parameters. A data type above it takes the pure path.
MAX_LISTED = 4_000


def in_database(spec: DataTypeSpec) -> bool:
    """A data type whose expected partitions can be listed: game or date level (catalog rows, × its
    closed dimensions' values), season or fixed level (a few); or an open one (§10), whose stored
    partitions are placed in their seasons here."""
    if spec.open_dimension:
        return True
    if spec.labelled:
        return False
    return not spec.dimensions or len(_combinations(spec)) <= MAX_LISTED


def _combinations(spec: DataTypeSpec) -> list[tuple[str | None, str]]:
    """(season, the partition suffix of one value combination) of every cell (§10): each covered season,
    or the fixed level's one (None)."""
    seasons = [None] if spec.level == PatternLevel.FIXED else spec.seasons
    return [(season, partition_id("", combo)) for season in dict.fromkeys(seasons)
            for combo in dimension_combinations(spec, season)]


def _values(rows: list[tuple], dialect: str) -> tuple[str, list]:
    """rows as an SQL VALUES list (columns column1, column2, … as SQLite and PostgreSQL name them; DuckDB
    is told the names) and its parameters; no rows: one row of NULLs, which joins nothing."""
    rows = rows or [(None, None)]
    one = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    values = "VALUES " + ", ".join([one] * len(rows))
    if dialect == "duckdb":  # DuckDB names them col0, col1, …
        names = ", ".join(f"column{n}" for n in range(1, len(rows[0]) + 1))
        return f"(SELECT * FROM ({values}) v({names}))", [value for row in rows for value in row]
    return f"({values})", [value for row in rows for value in row]


def expectation_sql(rule: CatalogExpectation, source_id: int, inv: InventorySQL) -> tuple[str, list]:
    """The rule as a query of (season, day, part) rows over the catalog table aliased `g`."""
    seasons = list(rule.seasons) or [None]  # no covered season: IN (NULL) holds for no row
    where = (f'g."source_id" = %s AND g."game_date" <= %s AND g."season" IN ({", ".join(["%s"] * len(seasons))})')
    params = [source_id, inv.date(rule.until), *seasons]
    table = inv.catalog
    if not rule.per_date:
        return f'SELECT g."season" AS season, g."game_date" AS day, g."game_id" AS part FROM {table} g WHERE {where}', params
    iso = ("to_char(g.\"game_date\", 'YYYY-MM-DD')" if inv.dialect == "postgresql"
           else 'CAST(g."game_date" AS TEXT)')  # SQLite's text; DuckDB's DATE as text is ISO too
    return (f'SELECT min(g."season") AS season, g."game_date" AS day, {iso} AS part FROM {table} g WHERE {where} '
            f'GROUP BY g."game_date"', params)


def expected_sql(spec: DataTypeSpec, as_of: dt.date, source_id: int, inv: InventorySQL) -> tuple[str, list]:
    """The data type's expected (season, day, part) rows: its catalog rule's, each joined with the
    season's dimension value combinations (partition_id: the level id, then the values, '/'-joined)."""
    sql, params = expectation_sql(catalog_expectation(spec, as_of), source_id, inv)
    if not spec.dimensions:
        return sql, params
    values, value_params = _values(_combinations(spec), inv.dialect)
    # CROSS JOIN keeps the catalog rows the outer loop on SQLite, as without dimensions: with the few
    # VALUES rows outside, its planner estimated a small outer side and scanned the present partitions
    # once per expected one instead of indexing them (7 s instead of 0.08 s for 30k objects)
    return (f"SELECT e.season, e.day, e.part || '/' || c.column2 AS part FROM ({sql}) e "
            f"CROSS JOIN {values} c WHERE c.column1 = e.season", [*params, *value_params])


def analyse(spec: DataTypeSpec, as_of: dt.date, critical_days: int,
            starts: Sequence[GameSpec] = ()) -> AnalysisReport | None:
    """The data type's cells and gaps as analysis.analyze gives them (None: its source's location
    cannot be read, or a game- or date-level type's source has no catalog; the caller takes the pure
    path). `starts`: the first game of each season of its source's catalog
    (services.specs.season_start_catalog), all the season level and open types need of it."""
    from reconciliation.storage import parse_location

    source_id, location = DataType.objects.filter(pk=spec.id).values_list("source_id", "source__location").get()
    try:
        loc = parse_location(location)
    except ValueError:
        return None
    # the catalog: the expectation's, or an open game-level type's placing (a copy of it for DuckDB)
    by_catalog = catalog_expectation(spec, as_of) is not None or (
        spec.open_dimension and spec.level == PatternLevel.GAME)
    with inventory_sql(loc.store, source_id if by_catalog else None) as inv:
        return _analyse_in(spec, as_of, critical_days, starts, source_id, loc, inv)


def _analyse_in(spec, as_of, critical_days, starts, source_id, loc, inv: InventorySQL) -> AnalysisReport | None:
    rule = verdict_rule(spec, as_of)
    present, present_params = _present_sql(spec, rule, loc, inv)
    if spec.open_dimension:
        return _analyse_open(spec, as_of, critical_days, starts, source_id, loc, present, present_params, inv)
    report = AnalysisReport()
    if catalog_expectation(spec, as_of) is not None:
        expected, expected_params = expected_sql(spec, as_of, source_id, inv)
        cells, counts = dict.fromkeys(spec.seasons), None  # analyze's cells: each covered season once, in order
    else:  # a handful: listed by the domain, as analyze lists them
        cells = expand_dimensions(spec, expected_partitions(spec, starts, as_of))
        counts = {season: len(parts) for season, parts in cells.items()}
        rows = [(season, part) for season, parts in cells.items() for _day, part in parts]
        values, expected_params = _values(rows, inv.dialect)
        expected = f"SELECT c.column1 AS season, NULL AS day, c.column2 AS part FROM {values} c"
    candidates: dict[str, list] = defaultdict(list)
    cur = inv.cursor
    if counts is None:
        cur.execute(f"SELECT e.season, count(*) FROM ({expected}) e GROUP BY e.season", expected_params)
        counts = dict(cur.fetchall())
    if any(counts.values()):  # (no expected partition: no query, and no VALUES list to send)
        cur.execute(f"SELECT e.season, e.day, e.part, p.state FROM ({expected}) e LEFT JOIN ({present}) p "
                    f'ON p."partition" = e.part WHERE p.state IS NULL OR p.state = 2',
                    [*expected_params, *present_params])
        while rows := cur.fetchmany(10_000):
            for season, day, part, state in rows:
                candidates[season].append((_date(day), part, state))
    suspects = sorted({part for rows in candidates.values() for _day, part, state in rows if state == 2})
    newest = newest_of(spec.id, suspects, loc, inv) if suspects else {}
    for season in cells:
        judged = []
        for day, part, state in sorted(candidates.pop(season, ())):
            obj = newest.get((spec.id, part)) if state == 2 else None
            kind = partition_verdict(spec, part, obj, as_of, rule)
            if kind is not None:
                judged.append((day, part, kind, obj))
        judge_cell(spec, season, counts.get(season, 0), judged, as_of, critical_days, report)
    return report


def _present_sql(spec: DataTypeSpec, rule, loc, inv: InventorySQL) -> tuple[str, list]:
    """The data type's present partitions with their state, over the rows under the source's current
    location: 1 present, 2 holds a suspect object (judged on its newest by the caller)."""
    suspect, suspect_params = verdict_sql(rule, inv.dialect)
    here, here_params = here_sql(loc, inv.dialect)
    return (f'SELECT o."partition", max(CASE WHEN {suspect} THEN 2 ELSE 1 END) AS state '
            f'FROM {inv.objects} o WHERE o."data_type_id" = %s AND {here} GROUP BY o."partition"',
            [*suspect_params, spec.id, *here_params])


def placed_sql(spec: DataTypeSpec, seasons: list, source_id: int, present: str,
               inv: InventorySQL) -> tuple[str, list]:
    """An open data type's present partitions (`present`, aliased p) placed in the seasons of its
    cells as open_types places them: (season, day, part, state) rows. Game level: the catalog's season
    and date of the partition's game (its first '/'-part); date level: the season whose span
    (seasons.season_days) holds the date; season level: the season it starts with; fixed: none."""
    if spec.level == PatternLevel.FIXED:
        return 'SELECT NULL AS season, NULL AS day, p."partition" AS part, p.state FROM ({present}) p'.format(
            present=present), []
    wanted = ", ".join(["%s"] * len(seasons)) or "NULL"
    if spec.level == PatternLevel.SEASON:
        return (f'SELECT q.season, NULL AS day, q.part, q.state FROM (SELECT substr(p."partition", 1, 7) AS season, '
                f'p."partition" AS part, p.state FROM ({present}) p) q WHERE q.season IN ({wanted})', list(seasons))
    if spec.level == PatternLevel.DATE:
        spans, params = _values([(s, *(d.isoformat() for d in season_days(s))) for s in seasons] or [(None,) * 3],
                                inv.dialect)
        return (f'SELECT c.column1 AS season, substr(p."partition", 1, 10) AS day, p."partition" AS part, p.state '
                f'FROM ({present}) p JOIN {spans} c ON substr(p."partition", 1, 10) BETWEEN c.column2 AND c.column3',
                params)
    game = ('substr(p."partition", 1, instr(p."partition" || \'/\', \'/\') - 1)' if inv.dialect == "sqlite"
            else 'split_part(p."partition", \'/\', 1)')
    return (f'SELECT g."season" AS season, g."game_date" AS day, p."partition" AS part, p.state FROM ({present}) p '
            f'JOIN {inv.catalog} g ON g."source_id" = %s AND g."game_id" = {game} '
            f'WHERE g."season" IN ({wanted})', [source_id, *seasons])


def _analyse_open(spec, as_of, critical_days, starts, source_id, loc, present, present_params,
                  inv: InventorySQL) -> AnalysisReport | None:
    """An open data type (§10) as open_types.analyze_open judges it: Python receives each season's count
    of partitions without a suspect object and the partitions with one (their newest object decides
    whether they are empty), not the stored partitions."""
    reason = not_judged_reason(spec, starts)
    if reason == NO_CATALOG:
        return None
    seasons = open_seasons(spec, starts, as_of)
    placed, placed_params = placed_sql(spec, seasons, source_id, present, inv)
    params = [*present_params, *placed_params]
    found: Counter = Counter()
    suspects: list[tuple] = []
    cur = inv.cursor
    cur.execute(f"SELECT q.season, count(*) FROM ({placed}) q WHERE q.state = 1 GROUP BY q.season", params)
    found.update(dict(cur.fetchall()))
    cur.execute(f"SELECT q.season, q.day, q.part FROM ({placed}) q WHERE q.state = 2", params)
    while rows := cur.fetchmany(10_000):
        suspects += [(season, _date(day), part) for season, day, part in rows]
    newest = newest_of(spec.id, sorted({part for _s, _d, part in suspects}), loc, inv) if suspects else {}
    empties = defaultdict(list)
    for season, day, part in suspects:
        obj = newest.get((spec.id, part))
        if obj is not None and obj.size < spec.min_size_bytes:
            empties[season].append((day, part, obj))
        else:
            found[season] += 1
    report = AnalysisReport()
    judge_open(spec, seasons, found, empties, as_of, critical_days, report, reason)
    return report


def _date(value) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value
