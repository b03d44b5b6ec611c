"""The scale-out scan's rules in one process (issue 23 item 4): the tasks are captured instead of queued
and run here one by one, in any order, so the claim, the finish and the failures are deterministic.
The same with real django-q2 workers: test_scan_parallel_e2e."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from reconciliation.engine.inventory_shared import staging_name
from reconciliation.models import ScanPart, ScanRun, StoredObject
from reconciliation.services.scan import scan_run, scan_summary
from reconciliation.services.scan_parallel import (
    scan_parallel_start,
    scan_parallel_wait,
    scan_part_run,
    scan_parts_expire,
)
from reconciliation.services.scan_plan import ScanFailed, ScanInputError
from reconciliation.storage import StorageError

from .scan_parallel_helpers import N, comparable, corrupt_file, report, snapshot
from .test_scanning import make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def espn(db):
    return make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})


@pytest.fixture
def queued(monkeypatch):
    """The part ids enqueued, in order (django-q2's async_task captured)."""
    calls = []
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kw: calls.append(args[0]))
    return calls


def staging_exists(run_id: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [staging_name(run_id)])
        return cur.fetchone()[0]


def run_parts(part_ids):
    return [scan_part_run(pk) for pk in part_ids]


# ------------------------------------------------------------------------------------------ refusals

def test_parallel_is_refused_on_sqlite_with_exit_2(espn, tmp_path, monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError) as err:
        call_command("scan", "--inventory-manifest", report(tmp_path), "--parallel", stdout=io.StringIO())
    assert err.value.returncode == 2 and "--parallel needs PostgreSQL" in str(err.value)
    assert not ScanRun.objects.exists()


@pytest.mark.parametrize("argv, reason", [
    (["--parallel"], "--parallel needs --inventory-manifest"),
    (["--no-wait"], "--no-wait needs --parallel"),
    (["--parallel", "--inventory-manifest", "file:///x/manifest.json", "--sample-rate", "0.5"], "a sample writes no"),
])
def test_parallel_bad_arguments_exit_2_and_change_nothing(espn, monkeypatch, argv, reason):
    monkeypatch.setattr(connection, "vendor", "postgresql")  # the refusals come before any PostgreSQL work
    with pytest.raises(CommandError) as err:
        call_command("scan", *argv, stdout=io.StringIO())
    assert err.value.returncode == 2 and reason in str(err.value)
    assert not ScanRun.objects.exists()


# ------------------------------------------------------------------------------------------ PostgreSQL

@pytest.mark.postgres
def test_parts_in_any_order_give_the_sequential_scans_inventory_and_counts(espn, tmp_path, queued):
    manifest = report(tmp_path)
    sequential = scan_run(manifest_uri=manifest)
    expected, expected_summary = snapshot(), scan_summary(sequential)
    StoredObject.objects.all().delete()

    run = scan_parallel_start(manifest_uri=manifest)
    assert run.parallel and run.status == "running" and len(queued) == run.parts.count() == 5
    assert staging_exists(run.pk) and StoredObject.objects.count() == 0
    results = run_parts(reversed(queued))  # the last file first: order of completion does not matter
    assert [r["finished_scan"] for r in results] == [False] * 4 + [True]
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert snapshot() == expected
    assert comparable(scan_summary(run)) == comparable(expected_summary)
    assert run.stats["inventory"]["bulk_load"] and run.stats["inventory"]["written"] == N
    assert set(run.parts.values_list("status", flat=True)) == {"done"}
    assert not staging_exists(run.pk)


@pytest.mark.postgres
def test_a_part_is_claimed_once(espn, tmp_path, queued):
    run = scan_parallel_start(manifest_uri=report(tmp_path))
    first = queued[0]
    assert scan_part_run(first)["status"] == "done"
    assert scan_part_run(first) == {"part": first, "status": "not claimed"}  # a task delivered twice
    run_parts(queued[1:])
    run.refresh_from_db()
    assert run.status == "completed" and run.objects_seen == N


@pytest.mark.postgres
def test_a_later_file_wins_a_key_listed_twice(espn, tmp_path, queued):
    manifest = report(tmp_path, dup_of=7)  # key 7 is in file 0 and again, changed, in the last file
    scan_run(manifest_uri=manifest)
    expected = snapshot()
    assert StoredObject.objects.get(key="espn/pbp/7.json").etag == "dup"
    StoredObject.objects.all().delete()
    scan_parallel_start(manifest_uri=manifest)
    run_parts(reversed(queued))
    assert snapshot() == expected


@pytest.mark.postgres
def test_a_failed_file_fails_the_scan_and_leaves_the_inventory(espn, tmp_path, queued):
    first = scan_run(manifest_uri=report(tmp_path / "day1"))
    before = snapshot()
    manifest = report(tmp_path / "day2", changed={1, 2, 3})
    key = corrupt_file(manifest, 2)
    run = scan_parallel_start(manifest_uri=manifest)
    assert scan_part_run(queued[0])["status"] == "done"
    with pytest.raises(StorageError):
        scan_part_run(queued[2])  # django-q2 lists the task failed too
    run.refresh_from_db()
    assert run.status == "failed" and key in run.error
    assert ScanPart.objects.get(pk=queued[2]).status == "failed"
    assert not staging_exists(run.pk)
    # the rest find nothing to claim; nobody swaps
    assert {r["status"] for r in run_parts(queued[3:] + queued[1:2])} == {"not claimed"}
    assert snapshot() == before
    assert set(StoredObject.objects.values_list("scan_id", flat=True)) == {first.pk}


@pytest.mark.postgres
def test_a_rescan_writes_only_the_changed_rows(espn, tmp_path, queued):
    first = scan_run(manifest_uri=report(tmp_path / "day1"))
    manifest = report(tmp_path / "day2", changed={0, 1000, 2000}, vanished={17}, new={1})
    run = scan_parallel_start(manifest_uri=manifest)
    run_parts(queued)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert run.stats["inventory"] == {"deleted": 1, "written": 4, "unchanged": N - 4, "staged": N,
                                        "object_store": "rows"}
    # only the changed and new rows carry the rescan's id; every other row is the first scan's, untouched
    assert StoredObject.objects.filter(scan_id=run.pk).count() == 4
    assert StoredObject.objects.filter(scan_id=first.pk).count() == N - 1 - 3
    rescanned = snapshot()
    StoredObject.objects.all().delete()
    scan_run(manifest_uri=manifest)
    assert snapshot() == rescanned


@pytest.mark.postgres
def test_a_part_past_its_lease_fails_the_scan(espn, tmp_path, queued):
    run = scan_parallel_start(manifest_uri=report(tmp_path))
    run_parts(queued[:-1])
    # the last file's worker claimed it and died: its claim stands, its lease runs out
    ScanPart.objects.filter(pk=queued[-1]).update(status="running", token="dead",
                                                  lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert scan_parts_expire() == 1
    run.refresh_from_db()
    assert run.status == "failed" and "not done within its lease" in run.error
    assert StoredObject.objects.count() == 0 and not staging_exists(run.pk)
    assert scan_parallel_wait(run.pk).status == "failed"  # the waiting command returns


@pytest.mark.postgres
def test_the_stale_run_sweep_leaves_a_parallel_run_to_its_leases(espn, tmp_path, queued):
    """No process holds a parallel run's advisory lock for its life: the sweep of the next scan must not
    take it for dead while its files wait in the queue."""
    from adce_site.runs import runs_fail_stale

    run = scan_parallel_start(manifest_uri=report(tmp_path))
    assert runs_fail_stale(ScanRun) == 0 and scan_parts_expire() == 0
    run_parts(queued)
    run.refresh_from_db()
    assert run.status == "completed"


@pytest.mark.postgres
def test_a_worker_that_outlived_its_lease_stages_nothing(espn, tmp_path, queued):
    run = scan_parallel_start(manifest_uri=report(tmp_path))
    ScanRun.objects.filter(pk=run.pk).update(status="failed", error="x")  # failed meanwhile (a lease)
    assert {r["status"] for r in run_parts(queued)} == {"not claimed"}
    assert StoredObject.objects.count() == 0


@pytest.mark.postgres
def test_a_manifest_that_cannot_be_read_is_a_failed_run(espn, tmp_path, queued):
    with pytest.raises(ScanFailed) as err:
        scan_parallel_start(manifest_uri=f"file://{tmp_path}/nothing/manifest.json")
    assert err.value.run.status == "failed" and not queued


@pytest.mark.postgres
def test_the_command_waits_and_prints_the_sequential_json(espn, tmp_path, monkeypatch):
    """Each task run as soon as it is queued (a worker always free): `scan --parallel --json` prints
    what the sequential scan prints."""
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, part_id: scan_part_run(part_id))
    manifest = report(tmp_path)
    out = io.StringIO()
    call_command("scan", "--inventory-manifest", manifest, "--parallel", "--json", stdout=out)
    parallel = json.loads(out.getvalue())
    StoredObject.objects.all().delete()
    sequential = json.loads(json.dumps(scan_summary(scan_run(manifest_uri=manifest)), default=str))
    assert parallel["status"] == "completed"
    assert comparable(parallel) == comparable(sequential)


def test_scan_input_error_is_raised_before_a_run(espn, monkeypatch):
    monkeypatch.setattr(connection, "vendor", "postgresql")
    with pytest.raises(ScanInputError):
        scan_parallel_start(manifest_uri="not a uri")
    assert not ScanRun.objects.exists()
