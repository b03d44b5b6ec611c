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
    files_replace(new, regions, scan_id, on_swapped=)  # a complete scan's swap: the carry + files_swap
    files_outside_refusal(regions)                     # why a rows-mode swap of regions would lose objects

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

from reconciliation.engine.inventory_sql import STAGING_COLUMNS, STAGING_SCHEMA, TABLE, Region, _region_sql
from reconciliation.engine.inventory_snapshot import (
    SNAPSHOT_SCHEMA,
    _literal,
    duckdb_connect,
    _store_dir,
    regions_json,
    snapshot_dir,
    touch_log_lock,
    touched_since,
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


def reader_tmp_dir(tag: str) -> Path:
    """A reader's own temp folder in the snapshot folder, named as domain.snapshot_files' sweep knows a
    reader's (`duckdb-tmp-<tag>-<pid>-<n>`): removed by its owner, or by a scan a day after its owner died."""
    return snapshot_dir() / f"duckdb-tmp-{tag}-{os.getpid()}-{next(_tmp_serial)}"


@contextlib.contextmanager
def duckdb_connection(tag: str = "read") -> Iterator:
    """inventory_snapshot.duckdb_connect with a temp folder of its own, closed and removed at the end."""
    tmp = reader_tmp_dir(tag)
    con = duckdb_connect(tmp)
    try:
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
        for key in touched_since(store, snap.touch_mark):
            stores.append(store)
            keys.append(key)
    return pa.table({"store": pa.array(stores, pa.string()), "key": pa.array(keys, pa.string())})


def _file_rows_sql(snap: InventorySnapshot) -> str:
    """The rows of one store's files, one per key: the later row of a key wins (a file listing a key
    twice, or a later part file listing it again), as in the staged swap."""
    files = snap.files()
    if snap.unique_keys:  # no key twice in all the snapshot's files together
        listed = ", ".join(_literal(path) for path in files)
        return f"SELECT {_COLUMNS} FROM read_parquet([{listed}])"
    parts = " UNION ALL ".join(
        f"SELECT {_COLUMNS}, {n} AS _file, file_row_number AS _row "
        f"FROM read_parquet({_literal(path)}, file_row_number = true)" for n, path in enumerate(files))
    return (f"SELECT {_COLUMNS} FROM ({parts}) "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY _file DESC, _row DESC) = 1")


# The overlay rule (module docstring): the files' rows no row written since and no touch masks
# (`objects_in_files`), then with the rows written since (`objects`).
_OBJECTS_SQL = ("CREATE TEMP VIEW objects_in_files AS SELECT {columns} FROM ({files}) f WHERE NOT EXISTS "
                "(SELECT 1 FROM adce_masked m WHERE m.store = f.store AND m.key = f.key); "
                "CREATE TEMP VIEW objects AS SELECT {columns} FROM adce_delta UNION ALL "
                "SELECT {columns} FROM objects_in_files")


@contextlib.contextmanager
def objects_duckdb(stores: Iterable[str], *, tag: str = "read") -> Iterator:
    """A DuckDB connection whose view `objects` (StoredObject's columns: store, key, size, last_modified,
    etag, source_id, data_type_id, partition, scan_id) holds exactly the objects of these stores held in
    files (a store not held in files has no rows in it: read it from StoredObject). The view
    `objects_in_files` is its part read from the files (what no row written since replaced or deleted)."""
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
               scan_id: int | None) -> int:
    """Inside the caller's transaction: make `files` ({store: (paths in order, rows, keys unique)}) the
    inventory of their stores — every object of the store, the regions the scan covered and whatever the
    caller carried over from outside them. Rows written before this scan's mark under its regions are
    superseded by the scan and deleted; the rows outside the regions and the files replaced are the caller's
    to have carried over. The replaced files stay until the next swap (`retired`); the ones retired by the
    previous swap go once this commits. Returns the StoredObject rows superseded."""
    with connection.cursor() as cur:
        touch_log_lock(cur)
    superseded = 0
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
        with connection.cursor() as cur:
            for region in (r for r in regions if r.store == store):
                # the swap's own region test (no LIKE: SQLite's folds case)
                cond, params = _region_sql(region, connection.vendor)
                cur.execute(f"DELETE FROM {TABLE} WHERE {cond}", params)
                superseded += max(cur.rowcount, 0)
    touches_prune()
    if gone:
        transaction.on_commit(lambda: _unlink(gone))
    return superseded


def _outside_sql(regions: Sequence[Region]) -> str:
    """DuckDB: the row lies under none of `regions` — the swap's region test (inventory_sql._region_sql,
    in PostgreSQL's form, which DuckDB reads alike)."""
    tests = []
    for region in regions:
        cond, params = _region_sql(region, "postgresql")
        tests.append("(" + cond.replace("%s", "{}").format(*map(_literal, params)) + ")")
    return f"NOT ({' OR '.join(tests)})" if tests else "true"


def _carry(stores: Sequence[str], regions: Sequence[Region], scan_id: int) -> dict[str, tuple[Path, int]]:
    """Inside the swap's transaction, after the touch log's lock: each store held in files keeps, in a new
    file, the objects its files hold under none of the scan's regions (the rows written since stay rows;
    what they or a touch masks is not carried). One COPY per store; {store: (file, rows)} of those that
    carried any. A key is one row in it (objects_in_files has one row per key), so unique."""
    whole = {r.store for r in regions if r.prefix == ""}  # a scan of the whole store leaves nothing outside
    held = [s for s in stores if s in file_inventories(stores) and s not in whole]
    carried: dict[str, tuple[Path, int]] = {}
    if not held:
        return carried
    metadata = ", ".join(f"{_literal(k.decode())}: {_literal(v.decode())}" for k, v in SNAPSHOT_SCHEMA.metadata.items())
    with objects_duckdb(held, tag=f"carry-{scan_id}") as con:
        for store in held:
            path = _store_dir(store) / f"scan-{scan_id}-carried.parquet"
            try:
                [(rows,)] = con.execute(
                    f"COPY (SELECT {_COLUMNS} FROM objects_in_files WHERE store = {_literal(store)} AND "
                    f"{_outside_sql([r for r in regions if r.store == store])}) TO {_literal(path)} "
                    f"(FORMAT parquet, COMPRESSION snappy, KV_METADATA {{{metadata}}})").fetchall()
            except BaseException:
                _unlink([path, *(p for p, _r in carried.values())])
                raise
            if rows:
                carried[store] = (path, rows)
            else:
                _unlink([path])
    return carried


def files_replace(new: dict[str, tuple[list[Path], int, bool | None]], regions: Sequence[Region],
                  scan_id: int, *, on_swapped=None) -> dict:
    """A complete scan in files mode: in one transaction, its files ({store: (paths in order, rows,
    keys unique)}) plus what each store's files hold outside `regions` (carried over into one more file)
    become the stores' inventory (files_swap), and `on_swapped(counts)` runs (the run's completion).
    On failure nothing changed and the carried files are gone; the scan's own files are the caller's."""
    carried: dict[str, tuple[Path, int]] = {}
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                touch_log_lock(cur)  # before the carry reads the rows and touches: none commits meanwhile
            carried = _carry(sorted(new), regions, scan_id)
            files = {}
            for store, (paths, rows, unique) in new.items():
                extra = carried.get(store)
                # the carried keys lie outside the regions, the scan's inside: unique together if each is
                files[store] = ([*paths, extra[0]], rows + extra[1], unique) if extra else (paths, rows, unique)
            superseded = files_swap(files, regions, scan_id)
            staged = sum(rows for _p, rows, _u in new.values())
            swap = {"object_store": "files", "staged": staged, "written": 0,
                    "carried": sum(rows for _p, rows in carried.values()),
                    "rows": sum(rows for _p, rows, _u in files.values()),
                    "files": sum(len(paths) for paths, _r, _u in files.values()),
                    "superseded_rows": superseded}
            if on_swapped is not None:
                on_swapped(swap)
    except BaseException:
        _unlink(p for p, _r in carried.values())
        raise
    return swap


def files_keys_unique(paths: dict[str, list[Path]]) -> dict[str, bool]:
    """Per store: no key twice in its files together (readers then skip the later-row-wins window)."""
    from reconciliation.engine.inventory_snapshot import keys_unique

    with duckdb_connection("unique") as con:
        return {store: keys_unique(con, files) for store, files in paths.items()}


class FilesHeld(Exception):
    """A rows-mode swap would supersede a store held in files that holds objects outside its regions."""


def files_outside_refusal(regions: Sequence[Region]) -> str | None:
    """Why a rows-mode scan of `regions` may not swap (None: it may). Its swap supersedes the stores'
    snapshots, files and all; a store held in files with objects outside the regions would lose them."""
    stores = sorted({r.store for r in regions})
    held = sorted(file_inventories(stores))
    if not held:
        return None
    with objects_duckdb(held, tag="outside") as con:
        for store in held:
            [(outside,)] = con.execute(
                f"SELECT count(*) FROM objects_in_files WHERE store = {_literal(store)} AND "
                f"{_outside_sql([r for r in regions if r.store == store])}").fetchall()
            if outside:
                return (f"{store} holds its inventory in files (a scan with ADCE_OBJECT_STORE=files), {outside} objects "
                        "of them outside this scan's locations, which a rows-mode scan would lose: scan with "
                        "ADCE_OBJECT_STORE=files, or scan all of the store's sources at once")
    return None
