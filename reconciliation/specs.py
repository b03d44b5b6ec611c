"""Selectors that turn the coverage and catalog tables into the pure inputs of
reconciliation.analysis and reconciliation.patterns."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .analysis import DataTypeSpec, GameSpec
from .choices import PatternLevel
from .models import CatalogGame, DataType, ReconciliationSettings
from .patterns import MatcherSpec, compile_pattern


def _data_types(active_only: bool, sources: Iterable[str] | None = None):
    qs = DataType.objects.select_related("source").order_by("source__name", "name")
    if active_only:
        qs = qs.filter(active=True, source__active=True)
    if sources is not None:
        qs = qs.filter(source__name__in=list(sources))
    return qs


def data_type_specs(*, active_only: bool = True, sources: Iterable[str] | None = None) -> list[DataTypeSpec]:
    return [
        DataTypeSpec(
            id=d.pk, source=d.source.name, name=d.name, scraper=d.source.scraper, required=d.required,
            freshness_days=d.freshness_days, completeness_threshold=d.completeness_threshold,
            min_size_bytes=d.min_size_bytes, minutes_per_file=d.minutes_per_file, level=d.level,
            seasons=tuple(d.source.seasons),
        )
        for d in _data_types(active_only, sources)
    ]


def catalog_specs(sources: Iterable[str] | None = None) -> dict[str, list[GameSpec]]:
    """Source name → its catalog games, in (game_date, game_id) order."""
    qs = CatalogGame.objects.order_by("source__name", "game_date", "game_id")
    if sources is not None:
        qs = qs.filter(source__name__in=list(sources))
    out: dict[str, list[GameSpec]] = defaultdict(list)
    for source, game_id, season, game_date in qs.values_list("source__name", "game_id", "season", "game_date").iterator(chunk_size=20000):
        out[source].append(GameSpec(game_id, season, game_date))
    return dict(out)


def _needs_catalog(patterns) -> bool:
    """Game-level patterns that also carry season/date placeholders are checked against the catalog."""
    for p in patterns:
        cp = compile_pattern(p)
        if cp.level == PatternLevel.GAME and len(cp.placeholders) > 1:
            return True
    return False


def matcher_specs(*, active_only: bool = True) -> list[MatcherSpec]:
    from .storage import parse_location

    types = list(_data_types(active_only))
    catalog_of: dict[int, dict] = {}
    for d in types:
        if d.source_id not in catalog_of and _needs_catalog(d.path_patterns):
            catalog_of[d.source_id] = {
                gid: (season, day)
                for gid, season, day in CatalogGame.objects.filter(source_id=d.source_id)
                .values_list("game_id", "season", "game_date").iterator(chunk_size=20000)
            }
    specs = []
    for d in types:
        loc = parse_location(d.source.location)
        specs.append(MatcherSpec(
            data_type_id=d.pk, store=loc.store, prefix=loc.prefix, patterns=tuple(d.path_patterns),
            source=d.source.name,
            catalog=catalog_of.get(d.source_id) if _needs_catalog(d.path_patterns) else None,
        ))
    return specs


def reconciliation_settings() -> ReconciliationSettings:
    """The settings row (defaults when no coverage file was ever imported). Not created on read."""
    return ReconciliationSettings.objects.filter(pk=1).first() or ReconciliationSettings(pk=1)
