"""Single-object writes of the inventory: the S3-event closed loop and verification.

Apart from InventoryStaging (reconciliation.engine.inventory) because these are a handful of objects
at a time, written through the ORM and matched one key at a time like a scan would, and they return
the (data type, partition) pairs they touched so that only those gaps are re-judged.
"""
from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from django.db import transaction

from reconciliation.engine.inventory_snapshot import touches_log
from reconciliation.engine.limits import fit_etags, fit_matches
from reconciliation.models import DataType, StoredObject
from reconciliation.object_selectors import object_partitions


def objects_upsert(store: str, objects: Iterable, *, matcher=None, scan=None) -> set[tuple[int, str]]:
    """Insert or refresh single objects (S3 event closed loop), matched like a scan would.

    `objects` are ObjectInfo-like (key, size, last_modified, etag). Returns the (data_type_id, partition)
    pairs touched, for `gaps_rejudge`."""
    from reconciliation.services.specs import partition_matcher

    matcher = matcher or partition_matcher()
    source_of = _source_of_data_type()
    objects = list(objects)
    matches = [matcher.match(store, obj.key) for obj in objects]
    # the scan's rule for what the columns hold (engine.limits): an over-long partition is unmatched
    data_types, partitions = fit_matches(pa.array([m.data_type_id if m else None for m in matches], pa.int64()),
                                         pa.array([m.partition if m else "" for m in matches], pa.string()))
    etags = fit_etags(pa.array([getattr(obj, "etag", "") or "" for obj in objects], pa.string()))
    rows, touched = [], set()
    for obj, dt_id, part, etag in zip(objects, data_types.to_pylist(), partitions.to_pylist(), etags.to_pylist()):
        if dt_id is not None:
            touched.add((dt_id, part))
        rows.append(StoredObject(
            store=store, key=obj.key, size=obj.size, last_modified=obj.last_modified, etag=etag,
            source_id=source_of.get(dt_id), data_type_id=dt_id, partition=part, scan=scan,
        ))
    if rows:
        # The key is logged first, in the write's transaction: the next rescan re-applies its report to
        # it instead of trusting the store's snapshot (reconciliation.engine.inventory_snapshot).
        with transaction.atomic():
            touches_log(store, [row.key for row in rows])
            StoredObject.objects.bulk_create(
                rows, batch_size=2000, update_conflicts=True, unique_fields=["key", "store"],
                update_fields=["size", "last_modified", "etag", "source", "data_type", "partition", "scan"],
            )
    return touched


def objects_delete(store: str, keys: Iterable[str]) -> set[tuple[int, str]]:
    """Remove objects (S3 ObjectRemoved events). Returns the (data_type_id, partition) pairs touched."""
    keys = list(keys)
    touched: set[tuple[int, str]] = set()
    for i in range(0, len(keys), 2000):
        chunk = keys[i:i + 2000]
        with transaction.atomic():
            # Read through the overlay before the touch is logged (the log masks the key in the files): for a
            # store held in files the object may be in its files only, and its pair must still come back.
            touched.update(object_partitions(store, chunk))
            touches_log(store, chunk)  # logged before the write, as in objects_upsert
            StoredObject.objects.filter(store=store, key__in=chunk).delete()
    return touched


def _source_of_data_type() -> dict[int, int]:
    return dict(DataType.objects.values_list("id", "source_id"))
