"""The object inventory as files (ADCE_OBJECT_STORE=files): the view `objects` lays the rows written since a
scan over the scan's files, exactly — a row written since wins, a key deleted since is gone, the later row
of a key wins — and a swap supersedes what it covers and keeps the files it replaces one generation."""
from __future__ import annotations

import os

import pytest
from django.db import transaction

from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.engine.object_files import ObjectFilesMissing, file_inventories, files_swap, objects_duckdb
from reconciliation.engine.inventory_sql import Region
from reconciliation.models import InventorySnapshot, StoredObject
from reconciliation.storage.locations import ObjectInfo

from .object_files_helpers import UTC, file_inventory, object_row, write_parquet

pytestmark = pytest.mark.django_db
STORE = "s3://lake"


def view(stores=(STORE,)) -> dict[tuple[str, str], tuple]:
    with objects_duckdb(stores) as con:
        rows = con.execute("SELECT store, key, size, etag FROM objects").fetchall()
    assert len(rows) == len({(s, k) for s, k, *_ in rows}), "one row per key"
    return {(s, k): (size, etag) for s, k, size, etag in rows}


def info(key, size=5, etag="new"):
    import datetime as dt
    return ObjectInfo(key=key, size=size, last_modified=dt.datetime(2024, 12, 1, tzinfo=UTC), etag=etag)


def test_the_view_holds_the_files_rows():
    file_inventory(STORE, [object_row(STORE, "a/1"), object_row(STORE, "a/2", size=7)], unique=True)
    assert view() == {(STORE, "a/1"): (100, "e"), (STORE, "a/2"): (7, "e")}
    assert StoredObject.objects.count() == 0


def test_rows_written_since_the_scan_win_and_deleted_keys_are_gone():
    file_inventory(STORE, [object_row(STORE, k) for k in ("a/1", "a/2", "a/3")], unique=True)
    objects_upsert(STORE, [info("a/1"), info("a/9")])
    objects_delete(STORE, ["a/2"])
    assert view() == {(STORE, "a/1"): (5, "new"), (STORE, "a/3"): (100, "e"), (STORE, "a/9"): (5, "new")}


def test_the_later_row_of_a_key_wins_in_a_file_and_across_files():
    file_inventory(STORE, [object_row(STORE, "k", size=1), object_row(STORE, "j", size=1),
                           object_row(STORE, "k", size=2)],
                   [object_row(STORE, "j", size=3)])
    assert view() == {(STORE, "k"): (2, "e"), (STORE, "j"): (3, "e")}


def test_a_store_not_held_in_files_is_not_in_the_view():
    StoredObject.objects.create(store="s3://other", key="x", size=1, last_modified="2024-01-01T00:00:00Z")
    file_inventory(STORE, [object_row(STORE, "a")], unique=True)
    assert view([STORE, "s3://other"]) == {(STORE, "a"): (100, "e")}
    assert set(file_inventories()) == {STORE}


def test_a_swap_supersedes_rows_under_its_regions_and_retires_the_old_files_for_one_generation(
        django_capture_on_commit_callbacks):
    first = file_inventory(STORE, [object_row(STORE, "a/1")], unique=True)
    objects_upsert(STORE, [info("a/5"), info("b/5")])
    second = file_inventory(STORE, [object_row(STORE, "a/2")], prefixes=("a/",), unique=True)
    # the scan of a/ supersedes what was written under a/ before it; b/5 stays (outside its regions)
    assert set(StoredObject.objects.values_list("key", flat=True)) == {"b/5"}
    assert view() == {(STORE, "a/2"): (100, "e"), (STORE, "b/5"): (5, "new")}
    assert second.retired == first.files() and os.path.exists(first.path)
    with django_capture_on_commit_callbacks(execute=True):
        third = file_inventory(STORE, [object_row(STORE, "a/3")], unique=True)
    assert not os.path.exists(first.path), "retired one generation ago: deleted"
    assert os.path.exists(second.path) and third.retired == second.files()


def test_a_failed_swap_changes_nothing():
    first = file_inventory(STORE, [object_row(STORE, "a/1")], unique=True)
    path = write_parquet(STORE, [object_row(STORE, "a/2")])
    with pytest.raises(RuntimeError), transaction.atomic():
        files_swap({STORE: ([path], 1, True)}, [Region(STORE, "")], None)
        raise RuntimeError("the scan failed after its swap's statements")
    assert InventorySnapshot.objects.get(store=STORE).files() == first.files()
    assert view() == {(STORE, "a/1"): (100, "e")}


def test_a_mirror_snapshot_becomes_an_inventory_and_its_file_goes_at_commit(django_capture_on_commit_callbacks):
    mirror_path = write_parquet(STORE, [object_row(STORE, "a/1")])
    InventorySnapshot.objects.create(store=STORE, path=mirror_path, rows=1, regions=[[STORE, ""]])
    StoredObject.objects.create(store=STORE, key="a/1", size=100, last_modified="2024-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        file_inventory(STORE, [object_row(STORE, "a/2")], unique=True)
    assert not os.path.exists(mirror_path), "a mirror is no one's inventory: no reader can hold it"
    assert view() == {(STORE, "a/2"): (100, "e")}


def test_a_missing_file_is_an_error_naming_the_store_never_an_empty_inventory():
    snap = file_inventory(STORE, [object_row(STORE, "a/1")], unique=True)
    os.unlink(snap.path)
    with pytest.raises(ObjectFilesMissing, match="s3://lake.*scan the store again"):
        view()
