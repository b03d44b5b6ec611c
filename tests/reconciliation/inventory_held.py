"""The same objects held both ways, for the tests that hold the SQL/DuckDB analysis equal to the pure one:
as StoredObject rows (rows mode) or in a store held in files with rows written since its scan laid over."""
from __future__ import annotations

from reconciliation.models import InventorySnapshot, StoredObject

from .object_files_helpers import file_inventory, object_row

HELD = ("rows", "files")


def inventory_put(held: str, objects: list[StoredObject], stores=()) -> None:
    """Replace the inventory with these unsaved objects. "files": each store held in files, in two part
    files, every third object written since the scan (a StoredObject row, whose older copy in the files —
    another size and etag — the row must hide); `stores` held in files even without objects."""
    StoredObject.objects.all().delete()
    InventorySnapshot.objects.all().delete()
    if held == "rows":
        StoredObject.objects.bulk_create(objects)
        return
    by_store: dict[str, list] = {store: [] for store in stores}
    for obj in objects:
        by_store.setdefault(obj.store, []).append(obj)
    since = []
    for store, objs in by_store.items():
        rows = []
        for n, obj in enumerate(objs):
            row = object_row(store, obj.key, obj.size, obj.last_modified, obj.etag or "e", obj.source_id,
                             obj.data_type_id, obj.partition, obj.scan_id)
            if n % 3 == 0:
                since.append(obj)
                row = {**row, "size": obj.size + 1000, "etag": "older"}
            rows.append(row)
        half = len(rows) // 2
        file_inventory(store, rows[:half], rows[half:])
    StoredObject.objects.bulk_create(since)
