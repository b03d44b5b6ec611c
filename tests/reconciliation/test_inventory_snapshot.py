"""A rescan against the last scan's snapshot (issue 23 item 3): it writes only what changed, and the
inventory ends up exactly as the staged diff leaves it — whole tables compared, scan ids included —
through changes, duplicate keys, S3 events between scans, refused or broken snapshots and failures."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench.inventory_writer import write_csv_inventory_report
from reconciliation.engine.inventory import InventoryStaging
from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.engine.inventory_sql import STAGING_SCHEMA, Region
from reconciliation.models import (
    InventorySnapshot,
    InventoryTouch,
    ScanRun,
    StoredObject,
)
from reconciliation.services.scan import scan_run
from reconciliation.services.scan_plan import ScanFailed
from reconciliation.storage.locations import ObjectInfo

from .test_scan_rescan import rows_written
from .test_scanning import make_source

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 11, 1, 10, tzinfo=UTC)
STORE = "s3://lake"
N = 3_000


@pytest.fixture
def lake():
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba", "s3://lake/nba/", {"box": ["box/{game_id}.json"]})


def objects(changed=(), vanished=(), new=(), n=N):
    """(key, size, last_modified, etag) of a report: n objects, some changed, vanished or new."""
    out = []
    for i in range(n):
        if i in vanished:
            continue
        size = 101 if i in changed else 100
        out.append((f"espn/pbp/{i}.json" if i % 3 else f"nba/box/{i}.json", size, WHEN, f"e{i}-{size}"))
    out += [(f"espn/pbp/new{i}.json", 7, WHEN + dt.timedelta(days=1), f"n{i}") for i in new]
    out.append(("espn/junk.txt", 1, WHEN, "j"))  # unmatched: stored too
    return out


class Reports:
    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def __call__(self, rows) -> str:
        self.n += 1
        return write_csv_inventory_report(str(self.root / f"r{self.n}"), source_bucket="lake", rows=rows,
                                          rows_per_file=1_000, stamp=f"2024-01-{self.n:02d}T00-00Z")


@pytest.fixture
def report(tmp_path):
    return Reports(tmp_path)


def table(scans) -> set[tuple]:
    """The whole inventory, each row's scan as its position among `scans` (ids differ between runs)."""
    order = {pk: n for n, pk in enumerate(scans)}
    return {(s, k, size, lm, e, src, dt_id, part, order.get(scan))
            for s, k, size, lm, e, src, dt_id, part, scan in StoredObject.objects.values_list(
                "store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition", "scan_id")}


def reset() -> None:
    StoredObject.objects.all().delete()
    InventorySnapshot.objects.all().delete()
    InventoryTouch.objects.all().delete()


def play(steps) -> tuple[list[set], list[dict]]:
    """Run steps (("scan", manifest) | ("upsert", key, size) | ("delete", key)) on an empty inventory;
    the table after each and each scan's inventory counts."""
    reset()
    scans, states, counts = [], [], []
    for step in steps:
        if step[0] == "scan":
            run = scan_run(manifest_uri=step[1])
            scans.append(run.pk)
            counts.append(run.stats["inventory"])
        elif step[0] == "upsert":
            objects_upsert(STORE, [ObjectInfo(step[1], step[2], WHEN + dt.timedelta(days=2), f"ev{step[2]}")])
        else:
            objects_delete(STORE, [step[1]])
        states.append(table(scans))
    return states, counts


def same_as_staged(steps) -> list[dict]:
    """Play the steps by snapshot and by the staged diff alone: the tables must be equal after every
    step, and so must the counts; returns the snapshot run's counts."""
    with override_settings(ADCE_INVENTORY_SNAPSHOTS=False):
        staged_states, staged_counts = play(steps)
    states, counts = play(steps)
    assert [sorted(a ^ b) for a, b in zip(states, staged_states)] == [[]] * len(states)
    strip = [{k: v for k, v in c.items() if k not in ("diff", "snapshot_refused")} for c in counts]
    assert strip == [{k: v for k, v in c.items() if k not in ("diff", "snapshot_refused")} for c in staged_counts]
    return counts


def snapshot_file() -> Path:
    return Path(InventorySnapshot.objects.get(store=STORE).path)


# ---------------------------------------------------------------------------------------------- the rescan

def test_an_unchanged_rescan_by_snapshot_writes_nothing_and_equals_the_staged_path(
        lake, report, django_capture_on_commit_callbacks):
    first = report(objects())
    first_scan = scan_run(manifest_uri=first)
    assert first_scan.stats["inventory"]["diff"] == "staged"  # a bulk load: nothing to diff against
    snap = InventorySnapshot.objects.get(store=STORE)
    assert snap.rows == N + 1 and snap.scan_id == first_scan.pk and snap.regions == [[STORE, "espn/"], [STORE, "nba/"]]
    with rows_written() as counted, django_capture_on_commit_callbacks(execute=True):
        run = scan_run(manifest_uri=report(objects()))
    assert counted["rows"] == 0
    assert run.stats["inventory"] == {"deleted": 0, "written": 0, "unchanged": N + 1, "staged": N + 1, "diff": "snapshot", "object_store": "rows"}
    assert set(StoredObject.objects.values_list("scan_id", flat=True)) == {first_scan.pk}
    assert InventorySnapshot.objects.get(store=STORE).scan_id == run.pk
    assert not Path(snap.path).exists() and snapshot_file().exists()  # the old file goes once the swap commits
    counts = same_as_staged([("scan", first), ("scan", report(objects()))])
    assert counts[1]["diff"] == "snapshot"


def test_changed_added_and_removed_objects_write_only_those(lake, report):
    changed, vanished, new = set(range(0, N, 300)), {17, 1001}, {1, 2, 3}
    with rows_written() as counted:
        counts = same_as_staged([("scan", report(objects())), ("scan", report(objects(changed, vanished, new)))])
    staged = N + 1 - len(vanished) + len(new)
    written = len(changed) + len(new)
    assert counts[1] == {"deleted": 2, "written": written, "unchanged": staged - written, "staged": staged,
                         "diff": "snapshot", "object_store": "rows"}
    assert counted["rows"] > 0


def test_a_diff_split_into_passes_or_retried_after_running_out_of_memory_gives_the_same_inventory(
        lake, report, monkeypatch):
    from reconciliation.engine import inventory_snapshot

    monkeypatch.setattr(inventory_snapshot, "_rows_per_pass", lambda limit: 700)  # 3,001 rows: 5 passes
    join, failed = inventory_snapshot.SnapshotDiff._join, []

    def join_once_out_of_memory(self, passes):
        if not failed:
            failed.append(passes)
            raise self.out_of_memory("failed to pin block")
        join(self, passes)
        failed.append(passes)

    monkeypatch.setattr(inventory_snapshot.SnapshotDiff, "_join", join_once_out_of_memory)
    counts = same_as_staged([("scan", report(objects())), ("scan", report(objects({5, 6, 2000}, {7}, {1})))])
    assert counts[1]["diff"] == "snapshot" and counts[1]["written"] == 4 and counts[1]["deleted"] == 1
    assert failed == [5, 10]
    assert ScanRun.objects.order_by("-pk").first().stats["snapshot_diff"] == {"passes": 10, "out_of_memory": 1}


def test_rows_written_by_a_snapshot_rescan_are_the_changes(lake, report):
    scan_run(manifest_uri=report(objects()))
    changed, vanished, new = {5, 6}, {7}, {1}
    with rows_written() as counted:
        run = scan_run(manifest_uri=report(objects(changed, vanished, new)))
    assert run.stats["inventory"]["diff"] == "snapshot"
    assert counted["rows"] == len(changed) + len(vanished) + len(new) == 4


@pytest.mark.parametrize("rows_per_pass", [None, 700])
def test_a_key_listed_twice_keeps_its_later_row(lake, report, monkeypatch, rows_per_pass):
    """Also in key-hash passes (700 keys a pass: 5 passes), where the repeated-key check runs per pass:
    the whole file's check at once ran out of DuckDB's memory at 30M keys."""
    from reconciliation.engine import inventory_snapshot

    if rows_per_pass:
        monkeypatch.setattr(inventory_snapshot, "_rows_per_pass", lambda limit: rows_per_pass)
    twice = objects() + [("espn/pbp/1.json", 555, WHEN, "again")]  # later in the report: it wins
    counts = same_as_staged([("scan", report(twice)), ("scan", report(objects())), ("scan", report(twice)),
                             ("scan", report(twice))])
    assert [c["diff"] for c in counts] == ["staged", "snapshot", "snapshot", "snapshot"]
    assert StoredObject.objects.get(key="espn/pbp/1.json").size == 555
    assert counts[3]["written"] == 0


def test_s3_events_between_scans_are_re_applied_from_the_report(lake, report):
    day1, day2 = report(objects()), report(objects(changed={4}, vanished={5}))
    counts = same_as_staged([
        ("scan", day1),
        ("upsert", "espn/pbp/1.json", 999),    # changed by an event, unchanged in the report: back to the report's
        ("upsert", "espn/pbp/4.json", 101),    # an event agreeing with the report's change
        ("upsert", "espn/pbp/zz.json", 3),     # created by an event, not in the report: gone again
        ("delete", "espn/pbp/2.json"),         # removed by an event, still in the report: back
        ("delete", "espn/pbp/5.json"),         # removed by an event and by the report
        ("upsert", "elsewhere/x.json", 1),     # outside the scanned regions: left alone
        ("scan", day2),
        ("upsert", "espn/pbp/7.json", 5),      # after the second scan: the third re-applies it
        ("scan", day2),
    ])
    assert [c["diff"] for c in counts] == ["staged", "snapshot", "snapshot"]
    assert StoredObject.objects.filter(key="elsewhere/x.json").exists()
    snap = InventorySnapshot.objects.get(store=STORE)
    assert not InventoryTouch.objects.filter(id__lte=snap.touch_mark).exists()  # pruned: no snapshot needs them


def test_a_touch_logged_while_nothing_has_a_snapshot_is_pruned(lake, report):
    objects_upsert(STORE, [ObjectInfo("espn/pbp/1.json", 1, WHEN)])
    assert InventoryTouch.objects.count() == 1
    scan_run(manifest_uri=report(objects()))
    assert InventoryTouch.objects.count() == 0


def test_a_snapshot_of_another_bucket_does_not_stop_the_report_s_own(lake, report, tmp_path):
    make_source("other", "s3://elsewhere/", {"x": ["x/{game_id}.json"]})
    other = write_csv_inventory_report(str(tmp_path / "other"), source_bucket="elsewhere",
                                       rows=[("x/1.json", 1, WHEN, "e")])
    scan_run(manifest_uri=other)
    assert set(InventorySnapshot.objects.values_list("store", flat=True)) == {"s3://elsewhere"}
    scan_run(manifest_uri=report(objects()))
    run = scan_run(manifest_uri=report(objects(changed={1})))  # every source: both buckets looked up
    assert run.stats["inventory"]["diff"] == "snapshot" and run.stats["inventory"]["written"] == 1
    assert set(InventorySnapshot.objects.values_list("store", flat=True)) == {"s3://elsewhere", STORE}
    assert StoredObject.objects.filter(store="s3://elsewhere").count() == 1


# ---------------------------------------------------------------------------------------------- refusals

def test_other_regions_take_the_staged_path(lake, report):
    scan_run(manifest_uri=report(objects()))
    run = scan_run(sources=["espn"], manifest_uri=report(objects(changed={1})))
    assert run.stats["inventory"]["diff"] == "staged"
    assert "other regions" in run.stats["inventory"]["snapshot_refused"]
    assert InventorySnapshot.objects.get(store=STORE).regions == [[STORE, "espn/"]]
    assert StoredObject.objects.filter(key__startswith="nba/").count() == N // 3  # not its region: kept
    assert StoredObject.objects.get(key="espn/pbp/1.json").size == 101


@pytest.mark.parametrize("damage", ["deleted", "truncated", "garbage inside", "another schema"])
def test_a_missing_or_broken_snapshot_takes_the_staged_path_with_the_right_result(lake, report, damage):
    day1, day2 = report(objects()), report(objects(changed={1, 2}, vanished={4}, new={1}))
    with override_settings(ADCE_INVENTORY_SNAPSHOTS=False):
        scan_run(manifest_uri=day1)
        scan_run(manifest_uri=day2)
        expected = table([])
    reset()
    scan_run(manifest_uri=day1)
    path = snapshot_file()
    data = path.read_bytes()
    if damage == "deleted":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage inside":  # the footer still reads: DuckDB finds the damage
        path.write_bytes(data[:4] + os.urandom(len(data) // 2) + data[4 + len(data) // 2:])
    else:
        import pyarrow.parquet as pq

        pq.write_table(STAGING_SCHEMA.empty_table().drop_columns(["etag"]), path)
        InventorySnapshot.objects.update(rows=0)
    run = scan_run(manifest_uri=day2)
    assert run.stats["inventory"]["diff"] == "staged", run.stats["inventory"]
    assert table([]) == expected
    assert InventorySnapshot.objects.get(store=STORE).scan_id == run.pk  # a fresh snapshot replaces it


def test_an_emptied_inventory_is_loaded_afresh(lake, report):
    day1 = report(objects())
    scan_run(manifest_uri=day1)
    StoredObject.objects.all().delete()
    run = scan_run(manifest_uri=day1)
    assert run.stats["inventory"]["bulk_load"] and run.stats["inventory"]["snapshot_refused"] == "the inventory is empty"
    assert StoredObject.objects.count() == N + 1


def test_snapshots_off_writes_none(lake, report):
    with override_settings(ADCE_INVENTORY_SNAPSHOTS=False):
        run = scan_run(manifest_uri=report(objects()))
    assert run.stats["inventory"]["snapshot_refused"] == "snapshots off" and not InventorySnapshot.objects.exists()


def test_any_other_swap_of_the_store_supersedes_its_snapshot(lake, report):
    scan_run(manifest_uri=report(objects()))
    assert InventorySnapshot.objects.exists()
    batch = STAGING_SCHEMA.empty_table().to_batches()
    with InventoryStaging() as staging:  # e.g. a parallel scan: it swaps through swap_staged too
        for b in batch:
            staging.add_batch(b)
        staging.replace([Region(STORE, "nba/")])
    assert not InventorySnapshot.objects.exists()
    run = scan_run(manifest_uri=report(objects()))
    assert run.stats["inventory"]["diff"] == "staged" and InventorySnapshot.objects.get().scan_id == run.pk


# ---------------------------------------------------------------------------------------------- failure

def test_a_failed_rescan_leaves_inventory_snapshot_row_and_file_untouched(lake, report, tmp_path, settings):
    scan_run(manifest_uri=report(objects()))
    before, snap = table([]), InventorySnapshot.objects.get()
    data = Path(snap.path).read_bytes()
    bad = report(objects(changed={1, 2}))
    files = sorted((tmp_path / f"r{report.n}").rglob("*.csv.gz"))
    files[1].write_bytes(files[1].read_bytes()[:-10])  # truncated: fails after a file was read
    with pytest.raises(ScanFailed):
        scan_run(manifest_uri=bad)
    failed = ScanRun.objects.order_by("-pk").first()
    assert failed.status == "failed"
    assert table([]) == before
    assert InventorySnapshot.objects.get().path == snap.path and Path(snap.path).read_bytes() == data
    left = sorted(p.name for p in Path(settings.ADCE_INVENTORY_SNAPSHOT_DIR).rglob("*.parquet"))
    assert f"scan-{failed.pk}.parquet" not in left


# ---------------------------------------------------------------------------------------------- property

keys = st.integers(min_value=0, max_value=40)
event = st.one_of(st.tuples(st.just("upsert"), keys, st.integers(1, 3)), st.tuples(st.just("delete"), keys))
day = st.lists(st.tuples(keys, st.integers(1, 3)), min_size=1, max_size=30)  # (key, size): repeats are duplicates
scan = day.map(lambda rows: ("scan", rows))
# A scan first and last, so that every sequence ends in at least one rescan.
steps = st.tuples(scan, st.lists(st.one_of(scan, event), max_size=6), scan).map(lambda t: [t[0], *t[1], t[2]])


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(steps)
def test_any_sequence_of_scans_and_events_ends_as_the_staged_path(lake, report, sequence):
    def key(i):
        return f"espn/pbp/{i}.json" if i % 2 else f"nba/box/{i}.json"

    played = []
    for step in sequence:
        if step[0] == "scan":
            played.append(("scan", report([(key(k), size, WHEN, f"e{size}") for k, size in step[1]])))
        elif step[0] == "upsert":
            played.append(("upsert", key(step[1]), step[2]))
        else:
            played.append(("delete", key(step[1])))
    same_as_staged(played)


def test_a_scan_that_swapped_the_store_meanwhile_sends_the_rescan_to_the_staged_path(lake, report, monkeypatch):
    """Two scans of one store: B reads the snapshot of scan 1, C swaps the store while B diffs. B's diff is
    against scan 1's rows, so it must not be applied to C's: B, the later swap, stages every row, and the
    inventory is B's report — here equal to scan 1's, which a diff against scan 1 would have left as C's."""
    from reconciliation.engine import inventory_snapshot

    scan_run(manifest_uri=report(objects()))
    competing = report(objects(changed=set(range(0, N, 10))))
    run_diff, swapped = inventory_snapshot.SnapshotDiff.run, []

    def diff_then_another_scan_swaps(self):
        result = run_diff(self)
        if not swapped:
            swapped.append(None)  # C's own diff runs through here too: only B's starts C
            swapped[0] = scan_run(manifest_uri=competing)
        return result

    monkeypatch.setattr(inventory_snapshot.SnapshotDiff, "run", diff_then_another_scan_swaps)
    run = scan_run(manifest_uri=report(objects()))
    assert swapped[0].stats["inventory"]["written"] == len(range(0, N, 10))  # C really changed the rows
    assert run.stats["inventory"]["diff"] == "staged"
    assert "since this scan began" in run.stats["inventory"]["snapshot_refused"]
    assert set(StoredObject.objects.values_list("size", flat=True)) == {100, 1}  # B's report, not C's sizes
    assert InventorySnapshot.objects.get(store=STORE).scan_id == run.pk
