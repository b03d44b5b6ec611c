"""End to end: `manage.py scan --parallel` with a real `qcluster` (2 workers, Redis broker) on
PostgreSQL scans a 5-file inventory report into the same inventory as the sequential scan; a rescan
writes only the changed rows; a corrupt data file fails the scan and leaves the inventory as it was.
Runs in the PostgreSQL pass (the processes share the test database); Redis must be reachable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from reconciliation.models import InventorySnapshot, ScanRun, StoredObject
from reconciliation.services.scan import scan_run, scan_summary
from bench.orchestration_bench import stop_cluster
from tests.events.test_qcluster_e2e import _database_url
from tests.events.test_qcluster_redis import REDIS_URL, redis_client  # noqa: F401 (a fixture)

from .scan_parallel_helpers import N, comparable, corrupt_file, report, snapshot
from .test_scanning import make_source

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


@pytest.fixture
def cluster(tmp_path, redis_client):  # noqa: F811
    """A running `qcluster` with two workers on its own Redis queue; yields the environment that sends
    tasks to it."""
    name = f"adce-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "ADCE_VAR_DIR": str(tmp_path / "var"),
           "ADCE_REDIS_URL": REDIS_URL, "ADCE_Q_CLUSTER_NAME": name, "ADCE_Q_POLL": "0.2", "ADCE_Q_WORKERS": "2"}
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, MANAGE, "qcluster"], cwd=settings.BASE_DIR, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # nothing outlives the test
    try:
        yield env, log
    finally:
        stop_cluster(proc)
        redis_client.delete(f"django_q:{name}:q")


def scan_parallel(env, manifest: str) -> subprocess.CompletedProcess:
    """The command waits for the workers (bounded here, so a broken cluster fails the test)."""
    return subprocess.run([sys.executable, MANAGE, "scan", "--inventory-manifest", manifest, "--parallel", "--json"],
                          env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=180)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_workers_scan_the_files_of_one_manifest(tmp_path, cluster):
    env, log = cluster
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    day1 = report(tmp_path / "day1")
    sequential = json.loads(json.dumps(scan_summary(scan_run(manifest_uri=day1)), default=str))
    expected = snapshot()
    StoredObject.objects.all().delete()

    done = scan_parallel(env, day1)
    assert done.returncode == 0, f"{done.stderr}\n{log.read_text()[-3000:]}"
    first = json.loads(done.stdout)
    assert comparable(first) == comparable(sequential) and first["objects"] == N
    assert first["inventory"]["bulk_load"] and snapshot() == expected
    run = ScanRun.objects.get(pk=first["id"])
    assert run.parallel and set(run.parts.values_list("status", flat=True)) == {"done"} and run.parts.count() == 5

    day2 = report(tmp_path / "day2", changed={0, 1000, 2000}, vanished={17}, new={1})
    done = scan_parallel(env, day2)
    assert done.returncode == 0, f"{done.stderr}\n{log.read_text()[-3000:]}"
    rescan = json.loads(done.stdout)
    assert rescan["inventory"] == {"deleted": 1, "written": 4, "unchanged": N - 4, "staged": N,
                                   "object_store": "rows"}
    assert StoredObject.objects.filter(scan_id=rescan["id"]).count() == 4  # the rest untouched
    before = snapshot()

    day3 = report(tmp_path / "day3", changed={5})
    key = corrupt_file(day3, 3)
    done = scan_parallel(env, day3)
    assert done.returncode == 2 and key in done.stderr and "failed" in done.stderr, done.stderr
    failed = ScanRun.objects.order_by("-pk").first()
    assert failed.status == "failed" and key in failed.error
    assert snapshot() == before


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_workers_scan_into_files_shared_through_the_snapshot_folder(tmp_path, cluster, settings):
    """ADCE_OBJECT_STORE=files: each worker writes its data file's Parquet file into the snapshot folder the
    hosts share; the finish makes them one snapshot equal to the sequential files scan's; no object row is
    written; a corrupt file fails the scan, leaves the inventory as it was and removes its part files."""
    from .test_scan_parallel_files import part_files, view

    env, log = cluster
    folder = str(tmp_path / "shared-snapshots")
    settings.ADCE_OBJECT_STORE, settings.ADCE_INVENTORY_SNAPSHOT_DIR = "files", folder
    env.update(ADCE_OBJECT_STORE="files", ADCE_INVENTORY_SNAPSHOT_DIR=folder)
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    day1 = report(tmp_path / "day1")
    sequential = json.loads(json.dumps(scan_summary(scan_run(manifest_uri=day1)), default=str))
    expected = view()

    done = scan_parallel(env, day1)
    assert done.returncode == 0, f"{done.stderr}\n{log.read_text()[-3000:]}"
    first = json.loads(done.stdout)
    assert comparable(first) == comparable(sequential) and first["objects"] == N
    assert first["inventory"]["object_store"] == "files" and first["inventory"]["written"] == 0
    assert view() == expected and StoredObject.objects.count() == 0
    held = InventorySnapshot.objects.get(store="s3://lake")
    assert held.scan_id == first["id"] and len(held.files()) == 5, "one file per data file"

    day2 = report(tmp_path / "day2", changed={0, 1000, 2000}, vanished={17}, new={1})
    done = scan_parallel(env, day2)
    assert done.returncode == 0, f"{done.stderr}\n{log.read_text()[-3000:]}"
    after_parallel = view()
    scan_run(manifest_uri=day2)
    assert after_parallel == view() != expected, "the parallel rescan holds what a sequential one does"
    before = view()

    day3 = report(tmp_path / "day3", changed={5})
    key = corrupt_file(day3, 3)
    done = scan_parallel(env, day3)
    assert done.returncode == 2 and key in done.stderr, done.stderr
    failed = ScanRun.objects.order_by("-pk").first()
    assert failed.status == "failed" and key in failed.error
    assert view() == before and part_files(failed.pk) == []
