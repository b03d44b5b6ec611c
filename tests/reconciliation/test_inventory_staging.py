"""Staged scans outside any transaction, as the `scan` command runs them: on SQLite the staged rows go to a
temporary database attached for the scan and detached after it (tests in test_inventory.py run inside the
test's transaction, where SQLite cannot attach, and cover the TEMP table path)."""
from __future__ import annotations

import pytest
from django.db import connection

from reconciliation.engine.inventory import InventoryStaging
from reconciliation.engine.inventory_sql import STAGING_SCHEMA, Region
from reconciliation.engine.sqlite_insert import STAGE_DB
from reconciliation.models import StoredObject
from reconciliation.storage.batches import batch_from_tuples

from .test_inventory import T, inventory_replace, keys, row

pytestmark = pytest.mark.django_db(transaction=True)
REGIONS = [Region("s3://b", "")]


def attached() -> bool:
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cur:
        cur.execute("PRAGMA database_list")
        return any(r[1] == STAGE_DB for r in cur.fetchall())


def test_a_rescan_outside_a_transaction_writes_only_what_changed_and_detaches_its_staging():
    inventory_replace(REGIONS, [row("s3://b", k) for k in ("a", "b", "c")])
    ids = dict(StoredObject.objects.values_list("key", "id"))
    with InventoryStaging() as staging:
        assert attached() == (connection.vendor == "sqlite")
        staging.add_batch(batch_from_tuples([row("s3://b", "a"), row("s3://b", "b", size=99), row("s3://b", "d")],
                                            STAGING_SCHEMA))
        result = staging.replace(REGIONS)
    assert result == {"deleted": 1, "written": 2, "unchanged": 1, "staged": 3}
    assert not attached()
    assert keys() == ["a", "b", "d"] and StoredObject.objects.get(key="a").id == ids["a"]
    assert StoredObject.objects.get(key="b").size == 99 and StoredObject.objects.get(key="b").last_modified == T


def test_an_error_while_staging_outside_a_transaction_discards_everything_and_detaches():
    inventory_replace(REGIONS, [row("s3://b", "old")])
    with pytest.raises(RuntimeError):
        with InventoryStaging() as staging:
            staging.add_batch(batch_from_tuples([row("s3://b", f"new/{i}") for i in range(1000)], STAGING_SCHEMA))
            raise RuntimeError("listing failed")
    assert keys() == ["old"] and not attached()


def test_a_key_staged_twice_outside_a_transaction_keeps_the_later_row():
    inventory_replace(REGIONS, [row("s3://b", "a"), row("s3://b", "b")])
    result = inventory_replace(REGIONS, [row("s3://b", "a", size=1), row("s3://b", "a", size=3), row("s3://b", "b")])
    assert result["deleted"] == 0
    assert sorted(StoredObject.objects.values_list("key", "size")) == [("a", 3), ("b", 10)]


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's attached staging only")
def test_a_staging_database_left_attached_by_a_broken_scan_is_replaced():
    with connection.cursor() as cur:
        cur.execute(f"ATTACH DATABASE '' AS {STAGE_DB}")
    inventory_replace(REGIONS, [row("s3://b", "a")])
    assert inventory_replace(REGIONS, [row("s3://b", "a"), row("s3://b", "b")])["written"] == 1
    assert keys() == ["a", "b"] and not attached()
