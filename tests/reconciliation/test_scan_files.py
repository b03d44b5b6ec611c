"""Scans in files mode (ADCE_OBJECT_STORE=files, issue 23 item 2): a complete scan's Parquet files become the
inventory and it writes no StoredObject row; the view `objects` then holds exactly what rows mode's
StoredObject holds after the same scans and S3 events — whole row sets compared — through other regions,
duplicate keys, failures; and a rows-mode scan never loses what a store's files hold."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from reconciliation.engine import object_files
from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.engine.object_files import FilesHeld, objects_duckdb
from reconciliation.models import InventorySnapshot, InventoryTouch, ScanRun, StoredObject
from reconciliation.services.scan import scan_run, scan_summary
from reconciliation.services.scan_plan import ScanFailed, ScanInputError
from reconciliation.storage.locations import ObjectInfo

from .test_inventory_snapshot import STORE, WHEN, Reports, objects
from .test_scanning import make_source

pytestmark = pytest.mark.django_db
COLUMNS = ("store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition")


@pytest.fixture
def lake():
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba", "s3://lake/nba/", {"box": ["box/{game_id}.json"]})


@pytest.fixture
def report(tmp_path):
    return Reports(tmp_path)


def rows_table() -> set[tuple]:
    """Rows mode's inventory: StoredObject, without scan ids (files mode stamps every listed row with the
    scan that listed it; rows mode keeps an unchanged row's first scan)."""
    return set(StoredObject.objects.values_list(*COLUMNS))


def files_table(stores=(STORE,)) -> set[tuple]:
    with objects_duckdb(stores) as con:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM objects").fetchall()
    assert len(rows) == len({r[:2] for r in rows}), "one row per key"
    return set(rows)


def reset() -> None:
    StoredObject.objects.all().delete()
    InventorySnapshot.objects.all().delete()
    InventoryTouch.objects.all().delete()


def play(steps) -> list[set]:
    """Steps: ("scan", manifest, sources or None) | ("upsert", key, size) | ("delete", key), from an empty
    inventory; the inventory after each. In files mode, also: no scan wrote a StoredObject row."""
    reset()
    files = object_files.files_mode()
    states = []
    for step in steps:
        if step[0] == "scan":
            before = StoredObject.objects.count()
            run = scan_run(manifest_uri=step[1], sources=step[2])
            assert run.status == "completed"
            if files:
                assert not StoredObject.objects.filter(scan_id=run.pk).exists()
                assert StoredObject.objects.count() <= before, "a scan in files mode writes no row"
                assert run.stats["inventory"]["object_store"] == "files"
        elif step[0] == "upsert":
            objects_upsert(STORE, [ObjectInfo(step[1], step[2], WHEN + dt.timedelta(days=2), f"ev{step[2]}")])
        else:
            objects_delete(STORE, [step[1]])
        states.append(files_table() if files else rows_table())
    return states


def same_as_rows_mode(steps, settings) -> None:
    settings.ADCE_OBJECT_STORE = "rows"
    expected = play(steps)
    settings.ADCE_OBJECT_STORE = "files"
    got = play(steps)
    assert [sorted(a ^ b) for a, b in zip(got, expected)] == [[]] * len(steps)


def snapshot_files() -> set[str]:
    from reconciliation.engine.inventory_snapshot import snapshot_dir
    return {p.name for p in Path(snapshot_dir()).rglob("*.parquet")}


# ---------------------------------------------------------------------------------------------- one scan

def test_a_scan_in_files_mode_writes_files_only_and_reports_them(lake, report, settings):
    settings.ADCE_OBJECT_STORE = "files"
    run = scan_run(manifest_uri=report(objects()))
    assert StoredObject.objects.count() == 0
    inventory = scan_summary(run)["inventory"]
    assert inventory == {"object_store": "files", "staged": 3001, "written": 0, "carried": 0, "rows": 3001,
                         "files": 1, "superseded_rows": 0}
    snap = InventorySnapshot.objects.get(store=STORE)
    assert snap.holds_objects and snap.unique_keys is True and snap.scan_id == run.pk and snap.rows == 3001
    with objects_duckdb([STORE]) as con:
        assert con.execute("SELECT count(*), min(scan_id), max(scan_id) FROM objects").fetchall() == [
            (3001, run.pk, run.pk)]


def test_a_key_listed_twice_is_not_unique_and_its_later_row_wins(lake, report, settings):
    settings.ADCE_OBJECT_STORE = "files"
    rows = objects(n=30) + [("espn/pbp/1.json", 555, WHEN, "again")]
    scan_run(manifest_uri=report(rows))
    assert InventorySnapshot.objects.get(store=STORE).unique_keys is False
    assert (STORE, "espn/pbp/1.json", 555) in {r[:3] for r in files_table()}
    settings.ADCE_OBJECT_STORE = "rows"
    reset()
    scan_run(manifest_uri=report(rows))
    settings.ADCE_OBJECT_STORE = "files"
    assert files_table() == set()  # rows mode's scan holds no files
    assert (STORE, "espn/pbp/1.json", 555) in {r[:3] for r in rows_table()}


def test_regions_a_then_b_then_both_carry_the_rest_over(lake, report, settings):
    day1, day2 = objects(), objects(changed={3, 4, 5}, vanished={7, 8, 9}, new={1, 2})
    steps = [("scan", report(day1), ["espn"]), ("scan", report(day2), ["nba"]), ("upsert", "nba/box/x.json", 2),
             ("scan", report(day2), ["espn"]), ("delete", "espn/pbp/1.json"), ("scan", report(day1), ["nba"]),
             ("scan", report(day1), None)]
    same_as_rows_mode(steps, settings)
    snap = InventorySnapshot.objects.get(store=STORE)
    assert len(snap.files()) == 1, "a scan of every region carries nothing over"


def test_the_carried_rows_are_a_part_of_the_new_snapshot(lake, report, settings):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()), sources=["espn"])
    espn = InventorySnapshot.objects.get(store=STORE).rows
    run = scan_run(manifest_uri=report(objects()), sources=["nba"])
    snap = InventorySnapshot.objects.get(store=STORE)
    assert run.stats["inventory"]["carried"] == espn and run.stats["inventory"]["files"] == 2
    assert snap.files()[1].endswith(f"scan-{run.pk}-carried.parquet") and snap.unique_keys is True
    assert snap.rows == 3001


# ---------------------------------------------------------------------------------------------- failure

def test_a_failed_listing_deletes_its_files_and_changes_nothing(lake, report, tmp_path, settings):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()), sources=["espn"])
    before, snap, names = files_table(), InventorySnapshot.objects.get(), snapshot_files()
    bad = report(objects(changed={1, 2}))
    files = sorted((tmp_path / f"r{report.n}").rglob("*.csv.gz"))
    files[1].write_bytes(files[1].read_bytes()[:-10])  # truncated: fails after a file was read
    with pytest.raises(ScanFailed):
        scan_run(manifest_uri=bad)
    assert ScanRun.objects.order_by("-pk").first().status == "failed"
    assert files_table() == before and InventorySnapshot.objects.get().files() == snap.files()
    assert snapshot_files() == names


def test_a_failed_swap_deletes_the_new_and_the_carried_files_and_changes_nothing(lake, report, settings, monkeypatch):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()), sources=["espn"])
    before, snap, names = files_table(), InventorySnapshot.objects.get(), snapshot_files()

    def swap_then_fail(*args, **kwargs):
        real_swap(*args, **kwargs)
        assert any("carried" in p for p in InventorySnapshot.objects.get().files())  # it got that far
        raise RuntimeError("the database went away")

    real_swap = object_files.files_swap
    monkeypatch.setattr(object_files, "files_swap", swap_then_fail)
    with pytest.raises(RuntimeError):
        scan_run(manifest_uri=report(objects(changed={1})), sources=["nba"])
    run = ScanRun.objects.order_by("-pk").first()
    assert run.status == "failed" and "went away" in run.error
    assert files_table() == before and InventorySnapshot.objects.get().files() == snap.files()
    assert snapshot_files() == names


def test_a_sampling_scan_writes_no_files(lake, report, settings):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()), sample_rate=0.5, seed=1)
    assert snapshot_files() == set() and not InventorySnapshot.objects.exists()


# ---------------------------------------------------------------------------------------------- back to rows

def test_a_rows_mode_scan_of_part_of_a_store_held_in_files_is_refused(lake, report, settings):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()))
    before = files_table()
    settings.ADCE_OBJECT_STORE = "rows"
    runs = ScanRun.objects.count()
    with pytest.raises(ScanInputError, match=f"^{STORE} holds its inventory in files .* objects of them outside"):
        scan_run(manifest_uri=report(objects()), sources=["nba"])
    assert ScanRun.objects.count() == runs, "refused before a run was recorded"
    assert files_table() == before


def test_the_rows_mode_swap_refuses_too_when_the_store_went_to_files_during_the_scan(lake, report, settings, monkeypatch):
    from reconciliation.services import scan as scan_module

    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()))
    before = files_table()
    settings.ADCE_OBJECT_STORE = "rows"
    monkeypatch.setattr(scan_module, "files_outside_refusal", lambda regions: None)  # the early check missed it
    with pytest.raises(FilesHeld):
        scan_run(manifest_uri=report(objects()), sources=["nba"])
    assert ScanRun.objects.order_by("-pk").first().status == "failed"
    assert files_table() == before


def test_a_rows_mode_scan_of_everything_the_files_hold_takes_the_store_back_to_rows(
        lake, report, settings, django_capture_on_commit_callbacks):
    settings.ADCE_OBJECT_STORE = "files"
    scan_run(manifest_uri=report(objects()))
    paths = InventorySnapshot.objects.get().files()
    settings.ADCE_OBJECT_STORE = "rows"
    with django_capture_on_commit_callbacks(execute=True):
        scan_run(manifest_uri=report(objects(changed={1})))
    snap = InventorySnapshot.objects.get()
    assert not snap.holds_objects and StoredObject.objects.count() == 3001
    assert not any(os.path.exists(p) for p in paths)
    settings.ADCE_OBJECT_STORE = "files"
    assert files_table() == set()


# ---------------------------------------------------------------------------------------------- property

keys = st.integers(min_value=0, max_value=40)
event = st.one_of(st.tuples(st.just("upsert"), keys, st.integers(1, 3)), st.tuples(st.just("delete"), keys))
day = st.lists(st.tuples(keys, st.integers(1, 3)), min_size=0, max_size=30)  # (key, size): repeats are duplicates
regions = st.sampled_from([None, ("espn",), ("nba",)])
scan = st.tuples(day, regions).map(lambda t: ("scan", *t))
steps = st.tuples(scan, st.lists(st.one_of(scan, event), max_size=6), scan).map(lambda t: [t[0], *t[1], t[2]])


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(steps)
def test_any_sequence_of_scans_and_events_ends_as_rows_mode(lake, report, settings, sequence):
    def key(i):
        return f"espn/pbp/{i}.json" if i % 2 else f"nba/box/{i}.json"

    played = []
    for step in sequence:
        if step[0] == "scan":
            rows = [(key(k), size, WHEN, f"e{size}") for k, size in step[1]] or [("elsewhere/x", 1, WHEN, "x")]
            played.append(("scan", report(rows), list(step[2]) if step[2] else None))
        elif step[0] == "upsert":
            played.append(("upsert", key(step[1]), step[2]))
        else:
            played.append(("delete", key(step[1])))
    with override_settings(ADCE_INVENTORY_SNAPSHOTS=True):
        same_as_rows_mode(played, settings)


def test_the_run_page_says_the_objects_are_in_files(lake, report, settings, client, django_user_model):
    from django.urls import reverse

    settings.ADCE_OBJECT_STORE = "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    run = scan_run(manifest_uri=report(objects()))
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.get(reverse("admin:reconciliation_scanrun_change", args=[run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Parquet files (ADCE_OBJECT_STORE=files): no row written" in html
    assert "carried" in html and "3,001" in html
