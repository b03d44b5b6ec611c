"""engine.gaps_sql: the anti-join in the database gives analysis.analyze's answers — the same gaps (kind,
priority, deciding object, in order) and the same completeness cells — on SQLite, and on PostgreSQL in
the PostgreSQL pass, for every kind of data type it takes: game and date level, with and without closed
dimensions (§10: values from the YAML or from a dimension catalog, per season), season and fixed level
with and without them. And the season starts
that season-level types now get instead of the whole catalog change nothing."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.choices import PatternLevel
from reconciliation.domain.analysis import AnalysisInput, DataTypeSpec, analyze
from reconciliation.domain.dimensions import CatalogDimension, OpenDimension, StaticDimension
from reconciliation.domain.expectation import catalog_expectation
from reconciliation.engine import gaps_sql
from reconciliation.engine.have import have_from_rows, load_have
from reconciliation.models import CatalogGame, DataType, Source, StoredObject
from reconciliation.services.specs import catalog_specs, season_start_catalog

from .inventory_held import HELD, inventory_put

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
STORE, PREFIX = "s3://lake", "espn/"
SEASONS = ("2023-24", "2024-25", "2025-26")
GAME_IDS = [f"g{n}" for n in range(8)]

days = st.dates(dt.date(2024, 9, 25), dt.date(2024, 10, 12))
# each game id at most once (the catalog's rule), any season, dates shared between seasons
catalogs = st.dictionaries(st.sampled_from(GAME_IDS), st.tuples(st.sampled_from(SEASONS), days),
                         min_size=1, max_size=8)  # without a catalog the service takes the pure path
partitions = st.sampled_from([*GAME_IDS, "2024-09-30", "2024-10-01", "2024-10-05", "x"])
times = st.datetimes(dt.datetime(2024, 9, 20), dt.datetime(2024, 10, 14), timezones=st.just(UTC))
objects = st.lists(st.tuples(partitions, st.integers(0, 30), times, st.booleans()), max_size=14)
# §10 closed dimensions: the YAML's values (every season), or a dimension catalog's (value, season or None)
VALUES = ("home", "away", "pts")


def dimension(name):
    return st.one_of(
        st.builds(StaticDimension, st.just(name), st.lists(st.sampled_from(VALUES), max_size=3, unique=True).map(tuple)),
        st.builds(CatalogDimension, st.just(name), st.lists(st.tuples(st.sampled_from(VALUES), st.sampled_from(
            [None, *SEASONS])), max_size=4, unique=True).map(lambda rows: tuple(sorted(rows, key=str)))))


dimension_lists = st.one_of(st.tuples(dimension("d0")), st.tuples(dimension("d0"), dimension("d1")))
# stored partitions with 0-2 values after the level id, some of them never expected ("zz")
dimension_partitions = st.tuples(partitions, st.lists(st.sampled_from([*VALUES, "zz"]), max_size=2)).map(
    lambda t: "/".join((t[0], *t[1])))
dimension_objects = st.lists(st.tuples(dimension_partitions, st.integers(0, 30), times, st.booleans()), max_size=20)
specs = st.fixed_dictionaries({
    "level": st.sampled_from([PatternLevel.GAME, PatternLevel.DATE]),
    "seasons": st.lists(st.sampled_from(SEASONS), min_size=1, max_size=3, unique=True).map(tuple),
    "min_size": st.integers(0, 20), "required": st.booleans(),
    "threshold": st.sampled_from([0.5, 0.9, 1.0]), "critical_days": st.integers(1, 10),
})


@pytest.fixture
def data_type():
    source = Source.objects.create(name="espn", scraper="espn_scraper", location=f"{STORE}/{PREFIX}")
    return DataType.objects.create(source=source, name="pbp", path_patterns=["{game_id}.json"], level="game")


def _spec(pk: int, s: dict, level: str | None = None, dimensions: tuple = ()) -> DataTypeSpec:
    return DataTypeSpec(id=pk, source="espn", name="pbp", scraper="espn_scraper", required=s["required"],
                        freshness_days=7, completeness_threshold=s["threshold"], min_size_bytes=s["min_size"],
                        minutes_per_file=1.0, level=level or s["level"], seasons=s["seasons"], dimensions=dimensions)


def _store(data_type, games: dict, rows, held: str = "rows") -> list[tuple]:
    """Replace the catalog and the inventory (held as rows or in files); the rows under the source's
    location, as HAVE takes them."""
    CatalogGame.objects.all().delete()
    CatalogGame.objects.bulk_create(CatalogGame(source=data_type.source, game_id=g, season=season, game_date=day)
                                    for g, (season, day) in games.items())
    keys = [f"{PREFIX if inside else 'other/'}{n}.json" for n, (_p, _s, _lm, inside) in enumerate(rows)]
    inventory_put(held, [StoredObject(store=STORE, key=key, size=size, last_modified=lm, data_type=data_type,
                                      partition=partition) for key, (partition, size, lm, _i) in zip(keys, rows)], stores=[STORE])
    return [(data_type.pk, partition, key, size, lm) for key, (partition, size, lm, inside) in zip(keys, rows) if inside]


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=specs, games=catalogs, as_of=days, rows=objects)
def test_the_database_anti_join_gives_the_pure_analysis(data_type, held, s, games, as_of, rows):
    stored = _store(data_type, games, rows, held)
    spec = _spec(data_type.pk, s)
    assert gaps_sql.in_database(spec)
    pure = analyze(AnalysisInput([spec], catalog_specs(["espn"]), have_from_rows(stored), as_of, s["critical_days"]))
    in_db = gaps_sql.analyse(spec, as_of, s["critical_days"])
    assert in_db.completeness == pure.completeness
    assert in_db.gaps == pure.gaps


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=specs, games=catalogs, as_of=days, rows=dimension_objects, dimensions=dimension_lists)
def test_closed_dimensions_of_catalog_partitions_in_the_database_give_the_pure_analysis(data_type, held, s, games, as_of,
                                                                                          rows, dimensions):
    stored = _store(data_type, games, rows, held)
    spec = _spec(data_type.pk, s, dimensions=dimensions)
    assert gaps_sql.in_database(spec)
    pure = analyze(AnalysisInput([spec], catalog_specs(["espn"]), have_from_rows(stored), as_of, s["critical_days"]))
    in_db = gaps_sql.analyse(spec, as_of, s["critical_days"])
    assert in_db.completeness == pure.completeness
    assert in_db.gaps == pure.gaps


# season- and fixed-level partitions: a season (or "" at the fixed level), then 0-2 dimension values
suffixes = st.lists(st.sampled_from([*VALUES, "zz"]), max_size=2)
season_partitions = st.tuples(st.sampled_from([*SEASONS, "2022-23"]), suffixes).map(lambda t: "/".join((t[0], *t[1])))
fixed_partitions = suffixes.map("/".join)


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=specs, games=catalogs, as_of=days, data=st.data(), level=st.sampled_from([PatternLevel.SEASON, PatternLevel.FIXED]),
       dimensions=st.one_of(st.just(()), dimension_lists))
def test_season_and_fixed_types_in_the_database_give_the_pure_analysis(data_type, held, s, games, as_of, data, level,
                                                                       dimensions):
    """With and without closed dimensions; the stale rule (current season) and the season starts
    (each season's first game, else 1 October) included: `as_of` falls around 1 October 2024."""
    partition = season_partitions if level == PatternLevel.SEASON else fixed_partitions
    rows = data.draw(st.lists(st.tuples(partition, st.integers(0, 30), times, st.booleans()), max_size=14))
    stored = _store(data_type, games, rows, held)
    spec = _spec(data_type.pk, s, level, dimensions)
    assert gaps_sql.in_database(spec)
    pure = analyze(AnalysisInput([spec], catalog_specs(["espn"]), have_from_rows(stored), as_of, s["critical_days"]))
    in_db = gaps_sql.analyse(spec, as_of, s["critical_days"], season_start_catalog("espn").get("espn", ()))
    assert in_db.completeness == pure.completeness
    assert in_db.gaps == pure.gaps


# open data types (§10): stored partitions of every level, some that cannot be placed (a game the catalog
# does not know, a season not covered), dates in several seasons' spans
open_levels = {
    PatternLevel.GAME: st.tuples(st.sampled_from([*GAME_IDS, "x"]), suffixes).map(lambda t: "/".join((t[0], *t[1]))),
    PatternLevel.DATE: st.tuples(st.dates(dt.date(2023, 6, 25), dt.date(2025, 7, 5)), suffixes).map(
        lambda t: "/".join((t[0].isoformat(), *t[1]))),
    PatternLevel.SEASON: season_partitions,
    PatternLevel.FIXED: fixed_partitions,
}


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=specs, games=catalogs, as_of=days, data=st.data(), level=st.sampled_from(list(open_levels)),
       count=st.one_of(st.none(), st.integers(1, 4)), closed=st.booleans())
def test_open_types_placed_in_the_database_give_the_pure_analysis(data_type, held, s, games, as_of, data, level, count,
                                                                  closed):
    """Counted (a short gap) or not judged; empty newest objects are gaps, an empty older one is not."""
    rows = data.draw(st.lists(st.tuples(open_levels[level], st.integers(0, 30), times, st.booleans()), max_size=14))
    stored = _store(data_type, games, rows, held)
    dimensions = ((StaticDimension("d0", VALUES),) if closed else ()) + (OpenDimension("d1"),)
    spec = dataclasses.replace(_spec(data_type.pk, s, level, dimensions), expected_count=count)
    assert gaps_sql.in_database(spec)
    pure = analyze(AnalysisInput([spec], catalog_specs(["espn"]), have_from_rows(stored), as_of, s["critical_days"]))
    in_db = gaps_sql.analyse(spec, as_of, s["critical_days"], season_start_catalog("espn").get("espn", ()))
    assert in_db.completeness == pure.completeness
    assert in_db.gaps == pure.gaps


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=specs, games=catalogs, as_of=days, rows=objects, level=st.sampled_from([PatternLevel.SEASON, PatternLevel.FIXED]))
def test_season_and_fixed_types_need_only_each_seasons_first_game(data_type, held, s, games, as_of, rows, level):
    partition = (lambda p: SEASONS[len(p) % 3]) if level == PatternLevel.SEASON else (lambda p: "")
    _store(data_type, games, [(partition(r[0]), *r[1:]) for r in rows], held)
    spec = _spec(data_type.pk, s, level)
    have = load_have([spec], as_of)
    full = analyze(AnalysisInput([spec], catalog_specs(["espn"]), have, as_of, s["critical_days"]))
    starts = analyze(AnalysisInput([spec], season_start_catalog("espn"), have, as_of, s["critical_days"]))
    assert starts == full


def test_which_types_the_database_takes():
    base = dict(id=1, source="s", name="t", scraper="x", required=True, freshness_days=7, completeness_threshold=1.0,
                min_size_bytes=1, minutes_per_file=1.0, seasons=("2024-25",))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.GAME, **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.DATE, **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.SEASON, **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.FIXED, dimensions=(StaticDimension("d", ("a",)),), **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.SEASON, dimensions=(OpenDimension("d"),), **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.GAME, dimensions=(StaticDimension("d", ("a",)),), **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.GAME, dimensions=(OpenDimension("d"),), **base))
    assert gaps_sql.in_database(DataTypeSpec(level=PatternLevel.DATE, labelled=True, dimensions=(OpenDimension("d"),),
                                             **base))
    # a value list too long for one query's parameters stays in Python
    many = StaticDimension("d", tuple(f"v{n}" for n in range(gaps_sql.MAX_LISTED + 1)))
    assert not gaps_sql.in_database(DataTypeSpec(level=PatternLevel.GAME, dimensions=(many,), **base))
    assert catalog_expectation(DataTypeSpec(level=PatternLevel.FIXED, **base), dt.date(2025, 1, 1)) is None


def test_a_date_shared_by_two_covered_seasons_is_expected_once_in_the_smaller(data_type):
    _store(data_type, {"g1": ("2024-25", dt.date(2024, 10, 1)), "g2": ("2023-24", dt.date(2024, 10, 1))}, [])
    spec = _spec(data_type.pk, {"level": PatternLevel.DATE, "seasons": ("2024-25", "2023-24"), "min_size": 1,
                                "required": True, "threshold": 1.0})
    report = gaps_sql.analyse(spec, dt.date(2024, 10, 5), 7)
    assert [(g.season, g.partition, g.kind) for g in report.gaps] == [("2023-24", "2024-10-01", "missing")]
    assert [(c.season, c.expected) for c in report.completeness] == [("2024-25", 0), ("2023-24", 1)]
