"""The snapshot folder's sweep: what a killed scan or reader left (its Parquet files, DuckDB's spill
folders) goes at the next scan; what a snapshot record names, a running scan writes, a live reader spills,
or we did not write, stays."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reconciliation.domain.snapshot_files import Entry, entries_orphaned
from reconciliation.engine.inventory_snapshot import _store_dir, snapshot_files_sweep
from reconciliation.engine.object_files import objects_duckdb
from reconciliation.models import InventorySnapshot, ScanRun
from reconciliation.services.scan import scan_run, scan_summary

from .test_inventory_snapshot import STORE, Reports, objects
from .test_scanning import make_source

DAY = 24 * 3600


# ------------------------------------------------------------------------------------------ the rule (pure)

def judged(names_ages, referenced=(), running=()) -> list[str]:
    entries = [Entry(f"/snap/{name}", name, age) for name, age in names_ages]
    return [e.name for e in entries_orphaned(entries, referenced={f"/snap/{r}" for r in referenced},
                                             running_scans=set(running))]


@pytest.mark.parametrize("name", ["scan-7.parquet", "scan-7-part-3.parquet", "scan-7-carried.parquet", "duckdb-tmp-7"])
def test_a_finished_scans_file_or_spill_nobody_names_is_orphaned(name):
    assert judged([(name, 1)]) == [name], "age does not matter: its scan is over"


@pytest.mark.parametrize("name", ["scan-7.parquet", "scan-7-part-3.parquet", "scan-7-carried.parquet", "duckdb-tmp-7"])
def test_a_running_scans_files_stay_however_old(name):
    assert judged([(name, 10 * DAY)], running={7}) == []


def test_a_file_a_snapshot_record_names_stays():
    assert judged([("scan-7.parquet", 10 * DAY), ("scan-8.parquet", 10 * DAY)], referenced={"scan-7.parquet"}) == [
        "scan-8.parquet"]


def test_a_readers_spill_folder_goes_only_after_a_day_unchanged():
    names = ["duckdb-tmp-read-12-0", "duckdb-tmp-carry-41-977-3", "duckdb-tmp-unique-5-1"]
    assert judged([(n, DAY - 60) for n in names]) == []
    assert judged([(n, DAY + 60) for n in names]) == names


@pytest.mark.parametrize("name", ["notes.txt", "scan-x.parquet", "scan-7.parquet.bak", "backup", "duckdb-tmp-"])
def test_what_we_did_not_write_is_never_ours_to_judge(name):
    assert judged([(name, 100 * DAY)]) == []


# ------------------------------------------------------------------------------------------- the sweep

@pytest.fixture
def folder(settings, tmp_path):
    """A snapshot folder of this test's own (the suite's is shared with other tests' leftovers)."""
    settings.ADCE_INVENTORY_SNAPSHOT_DIR = str(tmp_path / "snapshots")
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba", "s3://lake/nba/", {"box": ["box/{game_id}.json"]})
    return Path(settings.ADCE_INVENTORY_SNAPSHOT_DIR)


def aged(path: Path, seconds: float) -> Path:
    for p in [path, *path.rglob("*")]:
        os.utime(p, (time.time() - seconds, time.time() - seconds))
    return path


def litter(folder: Path, scan_id: int) -> dict[str, Path]:
    """What a scan killed mid-way (and a reader killed a day ago, and one still reading) leave behind."""
    store = _store_dir(STORE)
    store.mkdir(parents=True, exist_ok=True)
    out = {"file": store / f"scan-{scan_id}.parquet", "part": store / f"scan-{scan_id}-part-0.parquet",
           "carried": store / f"scan-{scan_id}-carried.parquet", "diff spill": folder / f"duckdb-tmp-{scan_id}",
           "old reader spill": folder / "duckdb-tmp-reconcile-99-0", "live reader spill": folder / "duckdb-tmp-read-98-0",
           "not ours": store / "README.txt"}
    for name, path in out.items():
        if "spill" in name:
            path.mkdir()
            (path / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1000)
        else:
            path.write_bytes(b"x" * 500)
    aged(out["old reader spill"], 2 * DAY)
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("store_mode", ["rows", "files"])
def test_the_next_scan_removes_what_a_killed_scan_left_and_keeps_the_inventory(folder, tmp_path, settings, store_mode):
    settings.ADCE_OBJECT_STORE = store_mode
    settings.ADCE_INVENTORY_SNAPSHOTS = True
    report = Reports(tmp_path)
    first = scan_run(manifest_uri=report(objects()))
    snap = InventorySnapshot.objects.get(store=STORE)
    killed = ScanRun.objects.create(status="failed", error="the process died")  # as the stale-run sweep leaves it
    left = litter(folder, killed.pk)

    second = scan_run(manifest_uri=report(objects(changed={1})))

    assert {name for name, path in left.items() if path.exists()} == {"live reader spill", "not ours"}
    assert scan_summary(second)["swept"] == {"entries": 5, "bytes": 3 * 500 + 2 * 1000}
    assert scan_summary(first)["swept"] is None, "nothing to sweep, nothing said"
    now = InventorySnapshot.objects.get(store=STORE)
    assert now.scan_id == second.pk and all(Path(p).exists() for p in now.files())
    if store_mode == "files":  # the generation a reader may still hold stays one more scan
        assert now.retired == [snap.path] and Path(snap.path).exists()
        with objects_duckdb([STORE]) as con:
            assert con.execute("SELECT count(*) FROM objects").fetchone()[0] == 3001


@pytest.mark.django_db
def test_a_running_scans_files_and_every_named_file_survive_the_sweep(folder, tmp_path, settings):
    settings.ADCE_OBJECT_STORE = "files"
    report = Reports(tmp_path)
    scan_run(manifest_uri=report(objects()))
    scan_run(manifest_uri=report(objects(changed={2})))  # now one retired generation too
    running = ScanRun.objects.create(status="running")
    left = litter(folder, running.pk)
    named = InventorySnapshot.objects.get(store=STORE)

    assert snapshot_files_sweep() == {"entries": 1, "bytes": 1000}  # the day-old reader's spill only

    assert all(left[name].exists() for name in ("file", "part", "carried", "diff spill", "live reader spill"))
    assert all(Path(p).exists() for p in (*named.files(), *named.retired))


@pytest.mark.django_db
def test_no_snapshot_folder_yet_sweeps_nothing(folder):
    assert not folder.exists()
    assert snapshot_files_sweep() == {"entries": 0, "bytes": 0}
