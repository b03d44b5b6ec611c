"""The object inventory as files (ADCE_OBJECT_STORE=files; issue 23 item 2): Parquet files a scan wrote,
plus the few rows written since, read through DuckDB.

A store is *held in files* when its InventorySnapshot has `holds_objects`: its files (snapshot.files(), a
later file's row of a key winning) are the objects its last scan found, and its StoredObject rows are only
the objects written after that scan (S3 events, verification: objects_upsert / objects_delete, which also
log the key in InventoryTouch). One rule lays the two over each other, stated once here (`_OBJECTS_SQL`):

    objects(store) = StoredObject rows of the store
                     ∪ file rows whose key has no StoredObject row and was not touched after the mark

(a touched key without a row was deleted since the scan). Every reader of a store held in files goes
through `objects_duckdb`, which gives a DuckDB connection with that relation as the view `objects`, with
StoredObject's columns; a store not held in files is read from StoredObject as before.

    files_mode() -> bool                               # do scans write files (the setting)
    file_inventories(stores) -> {store: InventorySnapshot}   # the stores held in files
    objects_duckdb(stores) -> DuckDB connection with the view `objects`
    files_swap(files, regions, scan_id)                # a scan's files become its stores' inventory

Consistency: the snapshot records, the rows written since and the touched keys are read in one database
snapshot (have_snapshot); the files never change once recorded; a swap keeps the files it replaces until
the next swap (`retired`), so a reader that picked them just before a swap committed can still read them.
DuckDB stays in the machinery: nothing in domain/ imports it.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
from django.conf import settings
from django.db import connection, transaction

from reconciliation.engine.inventory_sql import STAGING_COLUMNS, STAGING_SCHEMA, Region
from reconciliation.engine.inventory_snapshot import (
    _literal,
    regions_json,
    snapshot_dir,
    touch_log_lock,
    touches_prune,
)
from reconciliation.models import InventorySnapshot, InventoryTouch, StoredObject

_COLUMNS = ", ".join(STAGING_COLUMNS)
_tmp_serial = itertools.count()


def files_mode() -> bool:
    """Do complete scans write their objects to files (else to StoredObject rows)."""
    return settings.ADCE_OBJECT_STORE == "files"


class ObjectFilesMissing(Exception):
    """A store held in files lost a file: its inventory cannot be read (never shown as empty)."""


def read_errors() -> tuple[type[BaseException], ...]:
    """What a read of a store held in files raises when its files cannot be read (missing, damaged): for
    interfaces that must answer with a reason instead of an error page, without importing DuckDB."""
    import duckdb

    return ObjectFilesMissing, duckdb.Error


def file_inventories(stores: Iterable[str] | None = None) -> dict[str, InventorySnapshot]:
    """The stores (all, or these) held in files, with their snapshot records."""
    qs = InventorySnapshot.objects.filter(holds_objects=True)
    if stores is not None:
        qs = qs.filter(store__in=set(stores))
    return {s.store: s for s in qs}


@contextlib.contextmanager
def duckdb_connection(tag: str = "read") -> Iterator:
    """An in-process DuckDB: memory capped by ADCE_SNAPSHOT_DIFF_MEMORY, spilling to a temp folder beside
    the files, 2 threads, UTC (timestamps compare as the database's do)."""
    import duckdb  # here only: a reader of rows never loads it

    tmp = snapshot_dir() / f"duckdb-tmp-{tag}-{os.getpid()}-{next(_tmp_serial)}"
    con = duckdb.connect()
    try:
        for statement in (f"SET memory_limit = {_literal(settings.ADCE_SNAPSHOT_DIFF_MEMORY)}",
                          f"SET temp_directory = {_literal(tmp)}", "SET threads = 2",
                          "SET preserve_insertion_order = false", "SET TimeZone = 'UTC'"):
            con.execute(statement)
        yield con
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _delta_table(stores: Sequence[str]) -> pa.Table:
    """The StoredObject rows of these stores (written since their scans) as an Arrow table."""
    rows = (StoredObject.objects.filter(store__in=list(stores)).order_by()
            .values_list(*STAGING_COLUMNS).iterator(chunk_size=10_000))
    columns = list(zip(*rows)) or [()] * len(STAGING_COLUMNS)
    return pa.table([pa.array(list(col), type=field.type) for col, field in zip(columns, STAGING_SCHEMA)],
                    schema=STAGING_SCHEMA)


def _touched_table(snapshots: dict[str, InventorySnapshot]) -> pa.Table:
    stores, keys = [], []
    for store, snap in snapshots.items():
        for key in (InventoryTouch.objects.filter(store=store, id__gt=snap.touch_mark)
                    .values_list("key", flat=True).distinct().iterator()):
            stores.append(store)
            keys.append(key)
    return pa.table({"store": pa.array(stores, pa.string()), "key": pa.array(keys, pa.string())})


def _file_rows_sql(snap: InventorySnapshot) -> str:
    """The rows of one store's files, one per key: the later row of a key wins (a file listing a key
    twice, or a later part file listing it again), as in the staged swap."""
    files = snap.files()
    if snap.unique_keys and len(files) == 1:
        return f"SELECT {_COLUMNS} FROM read_parquet({_literal(files[0])})"
    parts = " UNION ALL ".join(
        f"SELECT {_COLUMNS}, {n} AS _file, file_row_number AS _row "
        f"FROM read_parquet({_literal(path)}, file_row_number = true)" for n, path in enumerate(files))
    return (f"SELECT {_COLUMNS} FROM ({parts}) "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY _file DESC, _row DESC) = 1")


# The overlay rule (module docstring): rows written since the scan, then the files' rows no such row or
# touch masks.
_OBJECTS_SQL = ("CREATE TEMP VIEW objects AS SELECT {columns} FROM adce_delta UNION ALL "
                "SELECT {columns} FROM ({files}) f WHERE NOT EXISTS (SELECT 1 FROM adce_masked m "
                "WHERE m.store = f.store AND m.key = f.key)")


@contextlib.contextmanager
def objects_duckdb(stores: Iterable[str], *, tag: str = "read") -> Iterator:
    """A DuckDB connection whose view `objects` (StoredObject's columns: store, key, size, last_modified,
    etag, source_id, data_type_id, partition, scan_id) holds exactly the objects of these stores held in
    files (a store not held in files has no rows in it: read it from StoredObject)."""
    from reconciliation.engine.have import have_snapshot

    with have_snapshot():
        snapshots = file_inventories(stores)
        delta = _delta_table(sorted(snapshots))
        touched = _touched_table(snapshots)
    for store, snap in sorted(snapshots.items()):
        missing = [path for path in snap.files() if not os.path.isfile(path)]
        if missing:
            raise ObjectFilesMissing(f"the inventory of {store} is held in files and {missing[0]} is missing "
                                     f"(scan #{snap.scan_id}); scan the store again to rebuild it")
    with duckdb_connection(tag) as con:
        con.register("adce_delta_arrow", delta)
        con.register("adce_touched_arrow", touched)
        con.execute("CREATE TEMP TABLE adce_delta AS SELECT * FROM adce_delta_arrow")
        con.execute("CREATE TEMP TABLE adce_masked AS SELECT store, key FROM adce_delta "
                    "UNION SELECT store, key FROM adce_touched_arrow")
        con.unregister("adce_delta_arrow")
        con.unregister("adce_touched_arrow")
        files = " UNION ALL ".join(_file_rows_sql(snap) for _store, snap in sorted(snapshots.items()))
        if not files:  # no store held in files: an empty relation of the right columns
            files = f"SELECT {_COLUMNS} FROM adce_delta WHERE false"
        con.execute(_OBJECTS_SQL.format(columns=_COLUMNS, files=files))
        yield con


# ------------------------------------------------------------------------------------------- the swap

def _unlink(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def files_swap(files: dict[str, tuple[list[Path], int, bool | None]], regions: Sequence[Region],
               scan_id: int | None) -> None:
    """Inside the caller's transaction: make `files` ({store: (paths in order, rows, keys unique)}) the
    inventory of their stores — every object of the store, the regions the scan covered and whatever the
    caller carried over from outside them. Rows written before this scan's mark under its regions are
    superseded by the scan and deleted; the rows outside the regions and the files replaced are the caller's
    to have carried over. The replaced files stay until the next swap (`retired`); the ones retired by the
    previous swap go once this commits."""
    with connection.cursor() as cur:
        touch_log_lock(cur)
    mark = InventoryTouch.objects.order_by("-id").values_list("id", flat=True).first() or 0
    gone: list[str] = []
    for store, (paths, rows, unique) in files.items():
        paths = [str(p) for p in paths]
        old = InventorySnapshot.objects.select_for_update().filter(store=store).first()
        retired: list[str] = []
        if old is not None:
            gone += [p for p in old.retired if p not in paths]
            replaced = [p for p in old.files() if p not in paths]
            (retired if old.holds_objects else gone).extend(replaced)
            old.delete()
        InventorySnapshot.objects.create(
            store=store, regions=regions_json(r for r in regions if r.store == store), scan_id=scan_id,
            path=paths[0], parts=paths[1:], rows=rows, unique_keys=unique, touch_mark=mark,
            holds_objects=True, retired=retired)
        for region in (r for r in regions if r.store == store):
            StoredObject.objects.filter(store=store, key__startswith=region.prefix).delete()
    touches_prune()
    if gone:
        transaction.on_commit(lambda: _unlink(gone))
