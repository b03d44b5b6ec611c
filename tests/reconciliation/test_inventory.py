"""Bulk inventory writes: staging, swap per region, discard on error, upserts for events."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from reconciliation.engine.inventory import InventoryStaging
from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.engine.inventory_sql import STAGING_SCHEMA, Region
from reconciliation.models import StoredObject
from reconciliation.storage import ObjectInfo
from reconciliation.storage.batches import batch_from_tuples

from .test_scanning import make_source

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
T = dt.datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)


def row(store, key, size=10, lm=T, dt_id=None, part=""):
    return (store, key, size, lm, "etag", None, dt_id, part, None)


def inventory_replace(regions, rows, *, bulk=False) -> dict:
    """Stage `rows` (tuples in STAGING_SCHEMA order) in one batch and swap them in, as a scan does."""
    with InventoryStaging(bulk=bulk) as staging:
        rows = list(rows)
        if rows:
            staging.add_batch(batch_from_tuples(rows, STAGING_SCHEMA))
        return staging.replace(regions)


def keys(store=None):
    qs = StoredObject.objects.all()
    if store:
        qs = qs.filter(store=store)
    return sorted(qs.values_list("key", flat=True))


def test_replace_only_touches_its_regions():
    inventory_replace([Region("s3://b", "")], [row("s3://b", k) for k in ("a/1", "ab/2", "c/3")])
    inventory_replace([Region("s3://other", "")], [row("s3://other", "a/1")])
    # a rescan of prefix "a/" must not touch "ab/" (a sibling sharing the characters)
    result = inventory_replace([Region("s3://b", "a/")], [row("s3://b", "a/9")])
    assert result == {"deleted": 1, "written": 1, "unchanged": 0, "staged": 1}
    assert keys("s3://b") == ["a/9", "ab/2", "c/3"]
    assert keys("s3://other") == ["a/1"]


def test_values_round_trip_exactly():
    lm = dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    inventory_replace([Region("file://", "x/")], [("file://", "x/ü é.json", 2**40, lm, "e" * 32, None, None, "", None)])
    obj = StoredObject.objects.get()
    assert obj.key == "x/ü é.json" and obj.size == 2**40 and obj.etag == "e" * 32
    assert obj.last_modified == lm and obj.last_modified.utcoffset() == dt.timedelta(0)
    # the ORM's own filters agree with what the bulk path stored
    assert StoredObject.objects.filter(last_modified=lm).count() == 1
    assert StoredObject.objects.filter(last_modified__gt=lm - dt.timedelta(seconds=1)).count() == 1


def test_microseconds_preserved():
    inventory_replace([Region("s3://b", "")], [row("s3://b", "k")])
    assert StoredObject.objects.get().last_modified == T


def test_error_while_staging_discards_everything():
    inventory_replace([Region("s3://b", "")], [row("s3://b", "old")])
    with pytest.raises(RuntimeError):
        with InventoryStaging() as staging:
            rows = [row("s3://b", f"new/{i}") for i in range(50_000)]
            for part in (rows[:20_000], rows[20_000:]):  # two batches: the first one is written already
                staging.add_batch(batch_from_tuples(part, STAGING_SCHEMA))
            raise RuntimeError("listing failed")
    assert keys() == ["old"]
    # the staging table is gone: the next scan starts clean
    inventory_replace([Region("s3://b", "")], [row("s3://b", "fresh")])
    assert keys() == ["fresh"]


def test_duplicate_keys_in_one_scan_last_wins():
    inventory_replace([Region("s3://b", "")], [row("s3://b", "k", 1), row("s3://b", "k", 2)])
    assert list(StoredObject.objects.values_list("key", "size")) == [("k", 2)]


def test_large_batch_counts():
    rows = [row("s3://b", f"p/{i:07d}", i) for i in range(45_000)]
    result = inventory_replace([Region("s3://b", "")], rows)
    assert result["written"] == 45_000 and StoredObject.objects.count() == 45_000


def test_rescan_rewrites_only_what_changed():
    regions = [Region("s3://b", "")]
    inventory_replace(regions, [("s3://b", k, 10, T, "e", None, None, "", None) for k in ("a", "b", "c")])
    ids = dict(StoredObject.objects.values_list("key", "id"))
    later = T + dt.timedelta(hours=1)
    result = inventory_replace(regions, [
        ("s3://b", "a", 10, T, "e", None, None, "", None),      # unchanged
        ("s3://b", "b", 99, later, "f", None, None, "", None),  # changed
        ("s3://b", "d", 2, T, "", None, None, "", None),        # new
    ])                                                          # "c" vanished
    assert result == {"deleted": 1, "written": 2, "unchanged": 1, "staged": 3}
    rows = {k: (size, lm, etag) for k, size, lm, etag in StoredObject.objects.values_list("key", "size", "last_modified", "etag")}
    assert rows == {"a": (10, T, "e"), "b": (99, later, "f"), "d": (2, T, "")}
    assert StoredObject.objects.get(key="a").id == ids["a"]  # untouched, not rewritten
    # a key listed twice in a rescan: the later row wins there too
    inventory_replace(regions, [("s3://b", "a", 1, T, "", None, None, "", None), ("s3://b", "a", 3, T, "", None, None, "", None)])
    assert list(StoredObject.objects.values_list("key", "size")) == [("a", 3)]


def test_objects_upsert_matches_and_delete(tmp_path):
    src = make_source("espn", "s3://lake/", {"pbp": ["pbp/{game_id}.json"]})
    dt_id = src.data_types.get().pk
    touched = objects_upsert("s3://lake", [ObjectInfo("pbp/7.json", 5, T, "x"), ObjectInfo("misc.txt", 1, T)])
    assert touched == {(dt_id, "7")}
    obj = StoredObject.objects.get(key="pbp/7.json")
    assert (obj.data_type_id, obj.partition, obj.source_id) == (dt_id, "7", src.pk)
    objects_upsert("s3://lake", [ObjectInfo("pbp/7.json", 50, T)])
    assert StoredObject.objects.get(key="pbp/7.json").size == 50
    assert objects_delete("s3://lake", ["pbp/7.json", "misc.txt"]) == {(dt_id, "7")}
    assert StoredObject.objects.count() == 0


# -- the bulk load of an empty inventory ------------------------------------------------------------


def constraints():
    from django.db import connection

    with connection.cursor() as cur:
        found = connection.introspection.get_constraints(cur, StoredObject._meta.db_table)
    return {name: (info["unique"], tuple(info["columns"])) for name, info in found.items()
            if name in ("storedobject_unique_key", "storedobject_type_partition")}


INDEXES = {"storedobject_unique_key": (True, ("key", "store")),
           "storedobject_type_partition": (False, ("data_type_id", "partition"))}


def test_bulk_load_fills_an_empty_inventory_and_rebuilds_its_indexes():
    rows = [row("s3://b", f"p/{i:06d}", i, dt_id=None, part="") for i in range(45_000)]
    result = inventory_replace([Region("s3://b", "")], rows, bulk=True)
    assert result == {"deleted": 0, "written": 45_000, "unchanged": 0, "staged": 45_000, "bulk_load": True}
    assert StoredObject.objects.count() == 45_000 and StoredObject.objects.get(key="p/000007").size == 7
    assert constraints() == INDEXES
    # and the rebuilt unique constraint holds
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        StoredObject.objects.create(store="s3://b", key="p/000007", size=1, last_modified=T)


def test_bulk_load_keeps_the_later_of_two_rows_for_one_key():
    result = inventory_replace([Region("s3://b", "")], [row("s3://b", "k", 1), row("s3://b", "j"), row("s3://b", "k", 2)],
                               bulk=True)
    assert result["written"] == 2 and result["staged"] == 3
    assert sorted(StoredObject.objects.values_list("key", "size")) == [("j", 10), ("k", 2)]
    assert constraints() == INDEXES


def test_failed_bulk_load_leaves_the_inventory_and_its_indexes_as_they_were():
    with pytest.raises(RuntimeError):
        with InventoryStaging(bulk=True) as staging:
            assert staging.bulk
            rows = [row("s3://b", f"new/{i}") for i in range(50_000)]
            for part in (rows[:20_000], rows[20_000:]):  # two batches: the first one is written already
                staging.add_batch(batch_from_tuples(part, STAGING_SCHEMA))
            raise RuntimeError("listing failed")
    assert StoredObject.objects.count() == 0
    assert constraints() == INDEXES
    assert inventory_replace([Region("s3://b", "")], [row("s3://b", "fresh")], bulk=True)["bulk_load"]


class RecordingWriteBehind:
    """Stands in for reconciliation.engine.write_behind.WriteBehind: records what the bulk load asked of it."""

    made: list = []

    def __init__(self, paths):
        self.paths, self.running = tuple(paths), False
        RecordingWriteBehind.made.append(self)

    def start(self):
        self.running = True
        return self

    def stop(self):
        self.running = False


@pytest.fixture
def write_behind(monkeypatch, tmp_path):
    from reconciliation.engine import inventory

    RecordingWriteBehind.made = []
    files = (str(tmp_path / "db"), str(tmp_path / "db-wal"))
    monkeypatch.setattr(inventory, "WriteBehind", RecordingWriteBehind)
    monkeypatch.setattr(inventory, "sqlite_files", lambda name: files)
    return files


@pytest.mark.parametrize("fails", [False, True])
def test_a_sqlite_bulk_load_writes_behind_until_its_commit(write_behind, fails):
    from django.db import connection

    seen_during = []
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with InventoryStaging(bulk=True) as staging:
            staging.add_batch(batch_from_tuples([row("s3://b", "k")], STAGING_SCHEMA))
            seen_during = [(w.paths, w.running) for w in RecordingWriteBehind.made]
            if fails:
                raise RuntimeError("listing failed")
            staging.replace([Region("s3://b", "")])
    if connection.vendor == "sqlite":  # the database's own files, flushed while the load ran
        assert seen_during == [(write_behind, True)]
    else:  # PostgreSQL writes its own WAL on the server: nothing to do here
        assert seen_during == []
    assert not any(w.running for w in RecordingWriteBehind.made)  # stopped after the commit or the rollback
    assert keys() == ([] if fails else ["k"])


def test_the_staged_path_does_not_write_behind(write_behind):
    inventory_replace([Region("s3://other", "")], [row("s3://other", "kept")])
    RecordingWriteBehind.made = []
    assert "bulk_load" not in inventory_replace([Region("s3://b", "")], [row("s3://b", "k")], bulk=True)
    assert RecordingWriteBehind.made == []


def test_bulk_load_is_only_for_an_empty_inventory():
    inventory_replace([Region("s3://other", "")], [row("s3://other", "kept")])
    result = inventory_replace([Region("s3://b", "")], [row("s3://b", "k")], bulk=True)
    assert "bulk_load" not in result
    assert keys() == ["k", "kept"]


@pytest.mark.parametrize("bulk", [True, False])
def test_a_row_the_database_refuses_fails_the_write_and_changes_nothing(bulk):
    if not bulk:  # the staged path: the inventory already holds a row
        inventory_replace([Region("s3://other", "")], [row("s3://other", "kept")])
    from django.db import transaction

    # (in a savepoint: the test runs inside a transaction, which a failed statement would abort)
    with pytest.raises(Exception) as failure, transaction.atomic():
        inventory_replace([Region("s3://b", "")], [row("s3://b", "ok"), row("s3://b", "x" * 10, size=None)], bulk=bulk)
    assert "null" in str(failure.value).lower()
    assert keys() == ([] if bulk else ["kept"])


def test_unique_constraint_is_droppable():
    """Migrations 0003/0004: on SQLite the constraint must be a CREATE UNIQUE INDEX, not inline in the
    table (where it could never be dropped); PostgreSQL keeps it a table constraint."""
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT contype FROM pg_constraint WHERE conname = 'storedobject_unique_key'")
            assert cur.fetchall() == [("u",)]
            return
        cur.execute("SELECT type, sql FROM sqlite_master WHERE name = 'storedobject_unique_key'")
        kind, sql = cur.fetchone()
        cur.execute("SELECT sql FROM sqlite_master WHERE name = %s", [StoredObject._meta.db_table])
        (table_sql,) = cur.fetchone()
    assert kind == "index" and sql.startswith("CREATE UNIQUE INDEX")
    assert "UNIQUE" not in table_sql


def test_batches_with_mixed_or_quoted_constant_columns_round_trip():
    """A scan's batch has one store and one scan id (written into SQLite's statement); any other
    batch binds them per row. Both must store exactly what was given."""
    from reconciliation.models import ScanRun

    scan = ScanRun.objects.create()
    quoted = [("s3://o'q", f"k{i}", i, T, "", None, None, "", scan.pk) for i in range(3)]
    mixed = [("s3://a", "x", 1, T, "", None, None, "", scan.pk), ("s3://b", "x", 2, T, "", None, None, "", None)]
    inventory_replace([Region("s3://o'q", "")], quoted)
    inventory_replace([Region("s3://a", ""), Region("s3://b", "")], mixed)
    got = sorted(StoredObject.objects.values_list("store", "key", "size", "scan_id"))
    assert got == [("s3://a", "x", 1, scan.pk), ("s3://b", "x", 2, None),
                   ("s3://o'q", "k0", 0, scan.pk), ("s3://o'q", "k1", 1, scan.pk), ("s3://o'q", "k2", 2, scan.pk)]


@pytest.mark.parametrize("n", [1, 249, 250, 251, 501, 10_001])
def test_every_row_of_a_batch_is_written_whatever_its_size_against_the_rows_per_statement(n):
    """SQLite writes a few hundred rows per INSERT statement and the remainder in one more, 10,000
    rows of a batch at a time: no row may be lost or doubled at any of these boundaries, and their
    order (the later of two rows wins) holds."""
    rows = [row("s3://b", f"p/{i:05d}", i) for i in range(n)] + [row("s3://b", "p/00000", 99_999)]
    result = inventory_replace([Region("s3://b", "")], rows)
    assert result["staged"] == n + 1
    got = dict(StoredObject.objects.values_list("key", "size"))
    assert len(got) == n and got["p/00000"] == 99_999
    assert all(got[f"p/{i:05d}"] == i for i in range(1, n))


def test_sqlite_statements_stay_within_the_bound_variable_limit(monkeypatch):
    """A build of SQLite with a low limit (999 before 3.32) still takes every row."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's limit")
    connection.ensure_connection()
    raw = connection.connection
    import sqlite3

    old = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 20)  # 2 rows of 7 bound values at most
    try:
        result = inventory_replace([Region("s3://b", "")], [row("s3://b", f"k{i}", i) for i in range(5)])
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, old)
    assert result["written"] == 5
    assert sorted(StoredObject.objects.values_list("size", flat=True)) == [0, 1, 2, 3, 4]


def test_keys_compare_and_order_by_their_bytes():
    """S3's order (UTF-8 bytes) is the inventory's on both databases: upper case before lower, "Z"
    before "a", an accented letter after every ASCII one. On PostgreSQL that is COLLATE "C" (migration
    0004), which also lets starts_with() and the (key, store) index serve a prefix."""
    names = ["a", "B", "Z", "é", "_", "aa"]
    inventory_replace([Region("s3://b", "")], [row("s3://b", k) for k in names])
    assert list(StoredObject.objects.order_by("key").values_list("key", flat=True)) == \
        sorted(names, key=lambda k: k.encode())
    assert StoredObject.objects.filter(key__gt="Z").count() == 4  # "_", "a", "aa", "é"


# --- issue 15 item 3: the rescan's diff is never a nested loop on PostgreSQL ---------------------------

TABLE = StoredObject._meta.db_table


def _forget_statistics(cur) -> None:
    """The table as a fresh one whose statistics nobody gathered (autovacuum off, never analysed)."""
    cur.execute(f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")
    cur.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [TABLE])
    cur.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [TABLE])


@contextlib.contextmanager
def _diff_plans(plans: list[str]):
    """EXPLAIN (in place, same transaction and settings) every DELETE/INSERT into the inventory that
    runs inside the block, before it runs."""
    from django.db import connection

    def explain(execute, sql, params, many, context):
        head = sql.lstrip().upper()
        if not many and (head.startswith(f"DELETE FROM {TABLE.upper()}") or head.startswith(f"INSERT INTO {TABLE.upper()}")
                         or (head.startswith("WITH ") and f"INSERT INTO {TABLE.upper()}" in head)):
            raw = context["cursor"].cursor  # the driver's cursor: no recursion into this wrapper
            raw.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(r[0] for r in raw.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        yield


@pytest.mark.postgres
def test_a_first_inventory_written_row_by_row_is_analysed():
    from django.db import connection

    with connection.cursor() as cur:
        _forget_statistics(cur)
    inventory_replace([Region("s3://lake", "")], [row("s3://lake", f"k/{i:06d}") for i in range(3000)])
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [TABLE])
        assert cur.fetchone()[0] == 3000


@pytest.mark.postgres
@pytest.mark.parametrize("changed", [0, 1000])
def test_the_rescan_diff_plans_no_nested_loop_whatever_the_statistics(changed):
    """Statistics lost or never gathered (the review's case: `demo` then `scan` ran past 120 s): the
    diff that finds vanished, new and changed rows is one hash (or merge) full join, never a nested
    loop, so a rescan is linear whatever the planner believes."""
    from django.db import connection

    n = 5_000
    region = Region("s3://lake", "pbp/")  # a source's prefix, as `demo` then `scan` has it
    inventory_replace([region], [row("s3://lake", f"pbp/{i:06d}") for i in range(n)])
    with connection.cursor() as cur:
        _forget_statistics(cur)
    plans: list[str] = []
    rescan = [row("s3://lake", f"pbp/{i:06d}", size=11 if i < changed else 10) for i in range(1, n)]
    with _diff_plans(plans):
        counts = inventory_replace([region], rescan)
    assert counts["deleted"] == 1 and counts["written"] == max(changed - 1, 0)
    assert len(plans) == 1, plans
    assert "Nested Loop" not in plans[0], plans[0]
    assert "Hash Full Join" in plans[0] or "Merge Full Join" in plans[0], plans[0]
