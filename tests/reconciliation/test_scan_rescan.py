"""A rescan of an inventory report writes only what changed (issue 23): the rows the database itself
counts as inserted, updated or deleted equal the changed objects, and the inventory ends up exactly as a
fresh scan of the same report leaves it."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.db import connection

from reconciliation.models import StoredObject
from reconciliation.services.scan import scan_run
from bench.inventory_writer import write_csv_inventory_report

from .test_scanning import make_source

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 11, 1, 10, tzinfo=UTC)
N = 20_000
TABLE = StoredObject._meta.db_table


def rows(changed=(), vanished=(), new=()):
    for i in range(N):
        if i in vanished:
            continue
        size, etag = (101, "f") if i in changed else (100, "e")
        yield f"espn/pbp/{i}.json", size, WHEN, f"{etag}{i}"
    for i in new:
        yield f"espn/pbp/{N + i}.json", 7, WHEN + dt.timedelta(days=1), f"n{i}"


def snapshot() -> set[tuple]:
    return set(StoredObject.objects.values_list("store", "key", "size", "last_modified", "etag", "source_id",
                                                "data_type_id", "partition"))


@contextlib.contextmanager
def rows_written():
    """Rows inserted, updated or deleted in the inventory table while the block runs, as the database
    counts them (SQLite: temporary triggers; PostgreSQL: the transaction's table statistics)."""
    counted = {}
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("CREATE TEMP TABLE adce_test_writes (n integer)")
            cur.execute("INSERT INTO adce_test_writes VALUES (0)")
            for event in ("INSERT", "UPDATE", "DELETE"):
                cur.execute(f"CREATE TEMP TRIGGER adce_test_{event.lower()} AFTER {event} ON main.{TABLE} "
                            "BEGIN UPDATE adce_test_writes SET n = n + 1; END")
            sql = "SELECT n FROM adce_test_writes"
        else:
            sql = ("SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables "
                   f"WHERE relid = '{TABLE}'::regclass")
        cur.execute(sql)
        before = cur.fetchone()[0]
    yield counted
    with connection.cursor() as cur:
        cur.execute(sql)
        counted["rows"] = cur.fetchone()[0] - before


def test_a_rescan_with_one_in_a_thousand_objects_changed_writes_only_those(tmp_path):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    first = write_csv_inventory_report(str(tmp_path / "day1"), source_bucket="lake", rows=rows(), rows_per_file=7_000)
    assert scan_run(manifest_uri=first).stats["inventory"]["bulk_load"]
    changed, vanished, new = set(range(0, N, 1000)), {17, 5017}, {1, 2}  # 0.1 % changed, 2 gone, 2 new
    day2 = dict(source_bucket="lake", rows=rows(changed, vanished, new), stamp="2024-01-02T00-00Z", rows_per_file=7_000)
    second = write_csv_inventory_report(str(tmp_path / "day2"), **day2)

    with rows_written() as counted:
        run = scan_run(manifest_uri=second)
    assert counted["rows"] == len(changed) + len(vanished) + len(new) == 24
    assert run.stats["inventory"] == {"deleted": 2, "written": 22, "unchanged": N - 22, "staged": N, "diff": "snapshot", "object_store": "rows"}
    rescanned = snapshot()

    StoredObject.objects.all().delete()
    fresh = scan_run(manifest_uri=second)
    assert fresh.stats["inventory"]["bulk_load"] and snapshot() == rescanned
    assert len(rescanned) == N


def test_a_rescan_of_an_unchanged_report_writes_nothing(tmp_path):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    report = write_csv_inventory_report(str(tmp_path), source_bucket="lake", rows=rows(), rows_per_file=7_000)
    first = scan_run(manifest_uri=report)
    before = snapshot()
    with rows_written() as counted:
        run = scan_run(manifest_uri=report)
    assert counted["rows"] == 0 and run.stats["inventory"]["written"] == 0
    assert snapshot() == before
    assert set(StoredObject.objects.values_list("scan_id", flat=True)) == {first.pk}  # nothing rewritten
