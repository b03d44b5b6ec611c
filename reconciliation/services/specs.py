"""Selectors that turn the coverage and catalog tables into the pure inputs of
reconciliation.domain.analysis and reconciliation.domain.patterns."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import repeat

from django.db import connection
from django.db.models import Min

from reconciliation.domain.analysis import DataTypeSpec, GameSpec
from reconciliation.engine.catalog_index import CatalogIndex
from reconciliation.choices import PatternLevel
from reconciliation.domain.dimensions import OpenDimension, dimension_for
from reconciliation.models import CatalogGame, DataType, DimensionValue, ReconciliationSettings, Source
from reconciliation.domain.matcher import MatcherSpec, PartitionMatcher
from reconciliation.domain.patterns import SEASON_PLACEHOLDERS, compile_pattern, dimension_order


def _data_types(active_only: bool, sources: Iterable[str] | None = None):
    qs = DataType.objects.select_related("source").order_by("source__name", "name")
    if active_only:
        qs = qs.filter(active=True, source__active=True)
    if sources is not None:
        qs = qs.filter(source__name__in=list(sources))
    return qs


def data_type_specs(*, active_only: bool = True, sources: Iterable[str] | None = None) -> list[DataTypeSpec]:
    types = list(_data_types(active_only, sources))
    catalogs = _dimension_catalogs({d.source_id for d in types if any("{" in p for p in d.path_patterns)})
    return [
        DataTypeSpec(
            id=d.pk, source=d.source.name, name=d.name, scraper=d.source.scraper, required=d.required,
            freshness_days=d.freshness_days, completeness_threshold=d.completeness_threshold,
            min_size_bytes=d.min_size_bytes, minutes_per_file=d.minutes_per_file, level=d.level,
            seasons=tuple(d.seasons or d.source.seasons), expected_count=d.expected_count,
            **_dimensions(d, catalogs.get(d.source_id, {})),
        )
        for d in types
    ]


def _dimensions(d: DataType, catalogs: dict) -> dict:
    """The data type's dimensions in partition order (§10); all open when its patterns disagree on them."""
    order = dimension_order(d.path_patterns)
    if order is None:
        names = dict.fromkeys(n for p in d.path_patterns for n in compile_pattern(p).dimensions)
        return {"dimensions": tuple(OpenDimension(n) for n in names), "labelled": True}
    static = {name: tuple(values) for name, values in (d.dimensions or {}).items()}
    return {"dimensions": tuple(dimension_for(n, static, catalogs) for n in order)}


def _dimension_catalogs(source_ids) -> dict[int, dict[str, tuple]]:
    """source id → dimension → ((value, season or None), …) of its dimension catalogs."""
    out: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    if source_ids:
        for sid, dim, value, season in (DimensionValue.objects.filter(source_id__in=source_ids)
                                        .order_by("source_id", "dimension", "value", "season")
                                        .values_list("source_id", "dimension", "value", "season")):
            out[sid][dim].append((value, season))
    return {sid: {dim: tuple(rows) for dim, rows in dims.items()} for sid, dims in out.items()}


def dimension_catalog_names() -> dict[str, set[str]]:
    """Source name → the dimensions it has a dimension catalog for (closed at coverage import, §10)."""
    out: dict[str, set[str]] = defaultdict(set)
    for source, dimension in DimensionValue.objects.order_by().values_list("source__name", "dimension").distinct():
        out[source].add(dimension)
    return dict(out)


def _catalog_days(sources: Iterable[str] | None):
    """(source name, game_date, season, game ids) per (source, date, season), in that order: the game
    ids joined by '/' in the database (import_catalog refuses a game id holding one), so that a few
    thousand rows cross the driver instead of a row tuple per game."""
    table, source_table = CatalogGame._meta.db_table, Source._meta.db_table
    agg = "group_concat(g.game_id, '/')" if connection.vendor == "sqlite" else "string_agg(g.game_id, '/')"
    sql = (f"SELECT s.name, g.game_date, g.season, {agg} FROM {table} g "
           f"JOIN {source_table} s ON s.id = g.source_id")
    params: list = []
    if sources is not None:
        sources = list(sources)
        if not sources:
            return []
        sql += f" WHERE s.name IN ({', '.join(['%s'] * len(sources))})"
        params = sources
    sql += " GROUP BY s.name, g.game_date, g.season ORDER BY s.name, g.game_date, g.season"
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [(source, day, season, game_ids.split("/")) for source, day, season, game_ids in cur.fetchall()]


def catalog_specs(sources: Iterable[str] | None = None) -> dict[str, list[GameSpec]]:
    """Source name → its catalog games, in (game_date, season, game_id) order."""
    out: dict[str, list[GameSpec]] = defaultdict(list)
    for source, day, season, game_ids in _catalog_days(sources):
        out[source].extend(map(GameSpec, sorted(game_ids), repeat(season), repeat(day)))
    return dict(out)


def season_start_catalog(source: str) -> dict[str, list[GameSpec]]:
    """The first game of each season of a source's catalog: all that season- and fixed-level data types
    use of it (analysis.season_started_on), a few rows instead of every game."""
    rows = (CatalogGame.objects.filter(source__name=source).order_by().values("season")
            .annotate(first=Min("game_date")).values_list("season", "first"))
    games = [GameSpec("", season, first) for season, first in rows]
    return {source: games} if games else {}


def has_catalog(source: str) -> bool:
    return CatalogGame.objects.filter(source__name=source).exists()


def catalog_index(source: str) -> CatalogIndex:
    """game id → (season, game_date) of one source's catalog, for the matcher (compact: see
    engine.catalog_index), streamed from the database in the game ids' byte order."""
    table, source_table = CatalogGame._meta.db_table, Source._meta.db_table
    games = f"FROM {table} g JOIN {source_table} s ON s.id = g.source_id WHERE s.name = %s"
    if connection.vendor == "sqlite":  # SQLite compares text as bytes already
        width_sql, order = f"SELECT max(length(CAST(g.game_id AS BLOB))) {games}", 'g."game_id"'
    else:
        width_sql, order = f"SELECT max(octet_length(g.game_id)) {games}", 'g."game_id" COLLATE "C"'
    with connection.cursor() as cur:
        cur.execute(width_sql, [source])
        width = cur.fetchone()[0] or 0
    # A server-side cursor on PostgreSQL: a plain one receives the whole result before the first row
    # (libpq holds every game, ~75 MB at 640k games, memory the process keeps after freeing it).
    with connection.chunked_cursor() as cur:
        cur.execute(f"SELECT g.game_id, g.season, g.game_date {games} ORDER BY {order}", [source])
        return CatalogIndex(_rows(cur), width)


def _rows(cur, size: int = 10_000):
    while rows := cur.fetchmany(size):
        yield from rows


def _needs_catalog(patterns) -> bool:
    """Game-level patterns that also carry season/date placeholders are checked against the catalog."""
    for p in patterns:
        cp = compile_pattern(p)
        if cp.level == PatternLevel.GAME and set(cp.placeholders) & (SEASON_PLACEHOLDERS | {"date"}):
            return True
    return False


def matcher_specs(*, active_only: bool = True) -> list[MatcherSpec]:
    from reconciliation.storage import parse_location

    types = list(_data_types(active_only))
    catalog_of: dict[int, dict] = {}
    for d in types:
        if d.source_id not in catalog_of and _needs_catalog(d.path_patterns):
            catalog_of[d.source_id] = catalog_index(d.source.name)
    specs = []
    for d in types:
        loc = parse_location(d.source.location)
        specs.append(MatcherSpec(
            data_type_id=d.pk, store=loc.store, prefix=loc.prefix, patterns=tuple(d.path_patterns),
            source=d.source.name,
            catalog=catalog_of.get(d.source_id) if _needs_catalog(d.path_patterns) else None,
        ))
    return specs


def partition_matcher(*, active_only: bool = True) -> PartitionMatcher:
    """The matcher of the data types in the database (active ones by default)."""
    return PartitionMatcher(matcher_specs(active_only=active_only))


def reconciliation_settings() -> ReconciliationSettings:
    """The settings row (defaults when no coverage file was ever imported). Not created on read."""
    return ReconciliationSettings.objects.filter(pk=1).first() or ReconciliationSettings(pk=1)
