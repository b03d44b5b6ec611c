"""Stores held in files (ADCE_OBJECT_STORE=files) for tests of their readers, without a scan: rows written
to Parquet files in the snapshot folder and made the store's inventory by the swap a scan uses."""
from __future__ import annotations

import datetime as dt
import itertools

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction

from reconciliation.engine.inventory_snapshot import SNAPSHOT_SCHEMA, _store_dir
from reconciliation.engine.inventory_sql import STAGING_COLUMNS, Region
from reconciliation.engine.object_files import files_swap
from reconciliation.models import InventorySnapshot

UTC = dt.timezone.utc
_serial = itertools.count(1)


def object_row(store: str, key: str, size: int = 100, last_modified: dt.datetime | None = None, etag: str = "e",
               source_id: int | None = None, data_type_id: int | None = None, partition: str = "",
               scan_id: int | None = None) -> dict:
    """One inventory row (StoredObject's columns)."""
    return {"store": store, "key": key, "size": size,
            "last_modified": last_modified or dt.datetime(2024, 11, 1, 10, tzinfo=UTC), "etag": etag,
            "source_id": source_id, "data_type_id": data_type_id, "partition": partition, "scan_id": scan_id}


def write_parquet(store: str, rows: list[dict], name: str | None = None) -> str:
    folder = _store_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"test-{next(_serial)}.parquet")
    table = pa.Table.from_pylist([{c: r[c] for c in STAGING_COLUMNS} for r in rows], schema=SNAPSHOT_SCHEMA)
    pq.write_table(table, path)
    return str(path)


def file_inventory(store: str, *files: list[dict], prefixes=("",), unique: bool | None = None,
                   scan_id: int | None = None) -> InventorySnapshot:
    """Make these rows (one list per file, later files winning) the store's inventory, as a scan of
    `prefixes` in files mode would."""
    paths = [write_parquet(store, rows) for rows in (files or ([],))]
    with transaction.atomic():
        files_swap({store: (paths, sum(len(f) for f in files), unique)},
                   [Region(store, p) for p in prefixes], scan_id)
    return InventorySnapshot.objects.get(store=store)
