"""The scale-out scan in files mode (ADCE_OBJECT_STORE=files): each data file's task writes its own Parquet
file, the finish makes them the parts of one snapshot — the sequential files scan's inventory, a later
file's row of a key winning — and a failed file or finish removes every part file."""
from __future__ import annotations

from pathlib import Path

import pytest

from reconciliation.engine import object_files
from reconciliation.engine.inventory_snapshot import snapshot_dir
from reconciliation.engine.object_files import objects_duckdb
from reconciliation.models import InventorySnapshot, ScanRun, StoredObject
from reconciliation.services.scan import scan_run, scan_summary
from reconciliation.services.scan_parallel import scan_parallel_start, scan_part_run
from reconciliation.storage import StorageError

from .scan_parallel_helpers import N, comparable, corrupt_file, report
from .test_scan_parallel import queued, run_parts  # noqa: F401 (a fixture)
from .test_scanning import make_source

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
STORE = "s3://lake"


@pytest.fixture
def espn(db, settings):
    settings.ADCE_OBJECT_STORE = "files"
    return make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})


def view() -> set[tuple]:
    with objects_duckdb([STORE]) as con:
        rows = con.execute("SELECT store, key, size, last_modified, etag, source_id, data_type_id, partition "
                           "FROM objects").fetchall()
    assert len(rows) == len({r[:2] for r in rows})
    return set(rows)


def part_files(run_id: int) -> list[Path]:
    return sorted(Path(snapshot_dir()).glob(f"*/scan-{run_id}-part-*.parquet"))


def sequential_then_clear(manifest):
    run = scan_run(manifest_uri=manifest)
    expected, summary = view(), scan_summary(run)
    for snap in InventorySnapshot.objects.all():  # gone with its files, or the next scan sweeps them
        for path in snap.files():
            Path(path).unlink()
        snap.delete()
    return expected, summary


def test_parts_in_any_order_become_one_snapshot_equal_to_the_sequential_scans(espn, tmp_path, queued):  # noqa: F811
    manifest = report(tmp_path)
    expected, expected_summary = sequential_then_clear(manifest)
    run = scan_parallel_start(manifest_uri=manifest)
    results = run_parts(reversed(queued))
    assert [r["finished_scan"] for r in results] == [False] * 4 + [True]
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert StoredObject.objects.count() == 0
    assert view() == expected
    assert comparable(scan_summary(run)) == comparable(expected_summary)
    snap = InventorySnapshot.objects.get(store=STORE)
    assert snap.files() == [str(p) for p in sorted(part_files(run.pk), key=lambda p: int(p.stem.rsplit("-", 1)[1]))]
    assert snap.rows == N and snap.unique_keys is True
    assert run.stats["inventory"] == {"object_store": "files", "staged": N, "written": 0, "carried": 0, "rows": N,
                                      "files": 5, "superseded_rows": 0}


def test_a_later_file_wins_a_key_listed_twice(espn, tmp_path, queued):  # noqa: F811
    manifest = report(tmp_path, dup_of=7)  # key 7 in file 0 and again, changed, in the last file
    expected, _ = sequential_then_clear(manifest)
    scan_parallel_start(manifest_uri=manifest)
    run_parts(reversed(queued))
    assert view() == expected and ("espn/pbp/7.json", 999) in {(r[1], r[2]) for r in expected}
    assert InventorySnapshot.objects.get(store=STORE).unique_keys is False


def test_a_failed_file_fails_the_scan_and_removes_every_part_file(espn, tmp_path, queued):  # noqa: F811
    scan_run(manifest_uri=report(tmp_path / "day1"))
    before, snap = view(), InventorySnapshot.objects.get(store=STORE)
    manifest = report(tmp_path / "day2", changed={1, 2, 3})
    key = corrupt_file(manifest, 2)
    run = scan_parallel_start(manifest_uri=manifest)
    assert scan_part_run(queued[0])["status"] == "done" and len(part_files(run.pk)) == 1
    with pytest.raises(StorageError):
        scan_part_run(queued[2])
    run.refresh_from_db()
    assert run.status == "failed" and key in run.error
    assert part_files(run.pk) == []
    assert {r["status"] for r in run_parts(queued[3:] + queued[1:2])} == {"not claimed"}
    assert part_files(run.pk) == [] and view() == before
    assert InventorySnapshot.objects.get(store=STORE).files() == snap.files()


def test_a_failed_finish_removes_every_part_file_and_changes_nothing(espn, tmp_path, queued, monkeypatch):  # noqa: F811
    scan_run(manifest_uri=report(tmp_path / "day1"))
    before = view()

    def fail(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(object_files, "files_swap", fail)
    run = scan_parallel_start(manifest_uri=report(tmp_path / "day2", changed={1}))
    with pytest.raises(RuntimeError):
        run_parts(queued)
    run.refresh_from_db()
    assert run.status == "failed" and "disk is full" in run.error
    assert part_files(run.pk) == [] and view() == before
    assert ScanRun.objects.filter(status="completed").count() == 1


def test_a_parallel_scan_sweeps_what_a_killed_scan_left_and_says_so(espn, tmp_path, queued, settings):  # noqa: F811
    settings.ADCE_INVENTORY_SNAPSHOT_DIR = str(tmp_path / "snapshots")  # the suite's folder holds other leftovers
    killed = ScanRun.objects.create(status="failed", parallel=True, error="its workers died")
    folder = Path(snapshot_dir()) / "s3_lake-litter"
    folder.mkdir(parents=True)
    left = [folder / f"scan-{killed.pk}-part-{n}.parquet" for n in range(3)]
    for path in left:
        path.write_bytes(b"x" * 100)
    run = scan_parallel_start(manifest_uri=report(tmp_path))
    run_parts(queued)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert not any(p.exists() for p in left)
    assert scan_summary(run)["swept"] == {"entries": 3, "bytes": 300}
    assert all(Path(p).exists() for p in InventorySnapshot.objects.get(store=STORE).files())
