"""The matcher's compact catalog (engine.catalog_index): the same answers as the dict it replaces, and
the database streams it in the byte order it needs, on SQLite and PostgreSQL alike."""
import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from reconciliation.engine.catalog_index import CatalogIndex
from reconciliation.models import CatalogGame
from reconciliation.services.specs import catalog_index

ids = st.text(alphabet=st.sampled_from("0aZ_-é9ü字b"), min_size=1, max_size=6)
games = st.dictionaries(ids, st.tuples(st.sampled_from(["2023-24", "2024-25"]),
                                       st.dates(dt.date(2020, 1, 1), dt.date(2026, 1, 1))), max_size=40)


def build(catalog: dict) -> CatalogIndex:
    rows = sorted(((g, s, d) for g, (s, d) in catalog.items()), key=lambda r: r[0].encode())
    return CatalogIndex(rows, max((len(g.encode()) for g in catalog), default=0))


@settings(max_examples=200, deadline=None)
@given(games, st.lists(ids, max_size=10))
def test_answers_as_the_dict_would(catalog, probes):
    index = build(catalog)
    assert len(index) == len(catalog) and set(index) == set(catalog)
    for game_id in [*catalog, *probes, "", "x" * 40, "0\0"]:
        assert index.get(game_id) == catalog.get(game_id)
        assert (game_id in index) == (game_id in catalog)
    got_ids, got_seasons = index.arrow_columns()
    assert dict(zip(got_ids.to_pylist(), got_seasons.to_pylist())) == {g: s for g, (s, _d) in catalog.items()}


def test_rows_out_of_byte_order_are_refused():
    with pytest.raises(ValueError, match="out of game id byte order at 'a'"):
        CatalogIndex([("b", "2024-25", dt.date(2024, 11, 1)), ("a", "2024-25", dt.date(2024, 11, 2))], 1)


@pytest.mark.django_db
def test_the_database_streams_the_catalog_in_byte_order():
    from tests.reconciliation.test_scanning import add_games, make_source

    src = make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{season}/{game_id}.json"]})
    # upper before lower, digits before letters, non-ASCII last: byte order, not a locale's
    names = ["b10", "B2", "a", "Zed", "é1", "0042", "e2", "字"]
    add_games(src, [(g, "2024-25", f"2024-11-{n + 1:02d}") for n, g in enumerate(names)])
    index = catalog_index("espn")
    assert list(index) == sorted(names, key=str.encode)
    assert index["é1"] == ("2024-25", dt.date(2024, 11, 5)) and index.get("E2") is None
    assert CatalogGame.objects.count() == len(index)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_streams_the_catalog_through_a_server_side_cursor(monkeypatch):
    """A plain cursor would receive every game before the first one (libpq holds the whole result)."""
    from django.db import connection

    from reconciliation.services import specs
    from tests.reconciliation.test_scanning import add_games, make_source

    src = make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{season}/{game_id}.json"]})
    add_games(src, [(f"g{n:03d}", "2024-25", "2024-11-01") for n in range(30)])
    open_cursors, stream = [], specs._rows

    def rows(cur, size=10_000):
        with connection.cursor() as probe:  # the same session: its open cursors
            probe.execute("SELECT count(*) FROM pg_cursors WHERE statement LIKE '%%game_id%%'")
            open_cursors.append(probe.fetchone()[0])
        yield from stream(cur, 7)

    monkeypatch.setattr(specs, "_rows", rows)
    index = catalog_index("espn")
    assert len(index) == 30 and open_cursors == [1]
