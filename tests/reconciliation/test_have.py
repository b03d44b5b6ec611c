"""engine.have: the SQL compiled from the verdict rule gives the pure verdict's answers (SQLite, and
PostgreSQL in the PostgreSQL pass)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.choices import PatternLevel
from reconciliation.domain.analysis import PRESENT, DataTypeSpec, ObjectSummary
from reconciliation.domain.dimensions import OpenDimension
from reconciliation.domain.verdict import partition_verdict, stale_cutoff, verdict_rule
from reconciliation.engine.have import have_from_rows, load_have, verdict_sql
from reconciliation.engine.duck_sql import inventory_sql
from reconciliation.models import DataType, Source, StoredObject

from .inventory_held import HELD, inventory_put

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
STORE, PREFIX = "s3://lake", "espn/"

levels = st.sampled_from([PatternLevel.GAME, PatternLevel.DATE, PatternLevel.SEASON, PatternLevel.FIXED])
# around the current season's turn (1 Oct 2024) and the stale cutoff's midnight
as_ofs = st.dates(dt.date(2024, 9, 20), dt.date(2024, 10, 20))
partitions = st.sampled_from(["2023-24", "2024-25", "2025-26", "g1", "2024-10-01", ""])
times = st.datetimes(dt.datetime(2024, 9, 1), dt.datetime(2024, 10, 21), timezones=st.just(UTC))
objects = st.lists(st.tuples(partitions, st.integers(0, 30), times, st.booleans()), max_size=12)


@pytest.fixture
def data_type():
    source = Source.objects.create(name="espn", scraper="espn_scraper", location=f"{STORE}/{PREFIX}")
    return DataType.objects.create(source=source, name="pbp", path_patterns=["{season}.json"], level="season")


def _spec(pk: int, level: str, min_size: int, freshness: int) -> DataTypeSpec:
    return DataTypeSpec(id=pk, source="espn", name="pbp", scraper="espn_scraper", required=True,
                        freshness_days=freshness, completeness_threshold=0.9, min_size_bytes=min_size,
                        minutes_per_file=1.0, level=level, seasons=("2023-24", "2024-25"))


def _store(data_type, rows, held: str = "rows") -> list[tuple]:
    """Replace the inventory (held as rows or in files) with these (partition, size, last_modified, under
    the location) rows."""
    objects, stored = [], []
    for n, (partition, size, lm, inside) in enumerate(rows):
        key = f"{PREFIX if inside else 'other/'}{n}.json"
        objects.append(StoredObject(store=STORE, key=key, size=size, last_modified=lm, data_type=data_type,
                                    partition=partition))
        if inside:
            stored.append((data_type.pk, partition, key, size, lm))
    inventory_put(held, objects, stores=[STORE])
    return stored


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(level=levels, min_size=st.integers(0, 20), freshness=st.integers(0, 20), as_of=as_ofs, rows=objects)
def test_the_sql_selects_exactly_the_rows_the_rule_judges(data_type, level, min_size, freshness, as_of, rows):
    _store(data_type, rows)
    rule = verdict_rule(_spec(data_type.pk, level, min_size, freshness), as_of)
    condition, params = verdict_sql(rule)
    with connection.cursor() as cur:
        cur.execute(f'SELECT o."id" FROM {StoredObject._meta.db_table} o WHERE {condition}', params)
        by_sql = {pk for (pk,) in cur.fetchall()}
    by_rule = {o.pk for o in StoredObject.objects.all() if rule.kind(o.partition, o.size, o.last_modified)}
    assert by_sql == by_rule


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(level=levels, min_size=st.integers(0, 20), freshness=st.integers(0, 20), as_of=as_ofs, rows=objects)
def test_the_same_sql_in_duckdb_selects_exactly_the_rows_the_rule_judges(data_type, level, min_size, freshness,
                                                                         as_of, rows):
    """A store held in files: the condition (with the datetime itself as its parameter) on the view."""
    _store(data_type, rows, "files")
    rule = verdict_rule(_spec(data_type.pk, level, min_size, freshness), as_of)
    with inventory_sql(STORE) as inv:
        assert inv.dialect == "duckdb"
        condition, params = verdict_sql(rule, inv.dialect)
        inv.cursor.execute(f'SELECT o."key" FROM {inv.objects} o WHERE {condition}', params)
        by_sql = {key for (key,) in inv.cursor.fetchall()}
        inv.cursor.execute(f'SELECT o."key", o."partition", o."size", o."last_modified" FROM {inv.objects} o')
        by_rule = {key for key, partition, size, lm in inv.cursor.fetchall() if rule.kind(partition, size, lm)}
    assert len(by_rule) == sum(rule.kind(p, size, lm) is not None for p, size, lm, _i in rows)
    assert by_sql == by_rule


@pytest.mark.parametrize("held", HELD)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(level=levels, min_size=st.integers(0, 20), freshness=st.integers(0, 20), as_of=as_ofs, rows=objects)
def test_load_have_judges_every_partition_as_the_pure_verdict(data_type, held, level, min_size, freshness, as_of,
                                                              rows):
    """The SQL path (load_have's pre-filter, then the verdict on the suspects' newest object) and the
    pure path (the newest of all rows, judged) agree on every partition."""
    stored = _store(data_type, rows, held)
    spec = _spec(data_type.pk, level, min_size, freshness)
    have = load_have([spec], as_of)
    newest = have_from_rows(stored)
    assert set(have) == set(newest)
    for key, obj in newest.items():
        by_sql = None if have[key] is PRESENT else partition_verdict(spec, key[1], have[key], as_of)
        assert by_sql == partition_verdict(spec, key[1], obj, as_of), key


def test_the_stale_clause_exists_only_for_season_level_types():
    as_of = dt.date(2025, 1, 15)
    season = verdict_rule(_spec(1, PatternLevel.SEASON, 100, 7), as_of)
    game = verdict_rule(_spec(1, PatternLevel.GAME, 100, 7), as_of)
    old = dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert season.kind("2024-25", 500, old) == "stale" and season.kind("2023-24", 500, old) is None
    assert game.kind("2024-25", 500, old) is None and game.kind("2024-25", 99, old) == "empty"
    assert season.kind("2024-25", 99, old) == "empty"  # empty wins over stale
    assert season.kind("2024-25", 500, stale_cutoff(as_of, 7)) is None  # the cutoff itself is fresh


@pytest.mark.parametrize("held", HELD)
def test_a_partition_holding_the_separator_is_read_one_row_each(data_type, held):
    """A dimension value holding the separator load_have joins partitions with: the aggregate's pieces do
    not count up, and the partitions are read one row each (_partitions_of), in files too."""
    lm = dt.datetime(2024, 10, 1, tzinfo=UTC)
    spec = dataclasses.replace(_spec(data_type.pk, PatternLevel.SEASON, 10, 400), dimensions=(OpenDimension("d"),))
    _store(data_type, [("2024-25/a\x1eb", 5, lm, True), ("2024-25/c", 50, lm, True), ("2024-25/d", 5, lm, False)],
           held)
    assert load_have([spec], dt.date(2024, 10, 5)) == {
        (data_type.pk, "2024-25/a\x1eb"): ObjectSummary(f"{PREFIX}0.json", 5, lm),
        (data_type.pk, "2024-25/c"): PRESENT}
