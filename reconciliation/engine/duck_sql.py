"""One store's inventory for the SQL of engine.gaps_sql and engine.have, wherever it is held: the same SQL
text runs on Django's connection (StoredObject rows) or in DuckDB (a store held in files, the view
`objects` of engine.object_files), never a second copy of it.

    inventory_session()                                           # one snapshot; each store opened once
    inventory_sql(store, catalog_source=None) -> InventorySQL   # a context manager
    InventorySQL: cursor (execute with %s placeholders, fetchone/fetchall/fetchmany), dialect ("sqlite",
                  "postgresql" or "duckdb": the callers' few function-name branches), objects and catalog
                  (the table names the SQL uses), date()/datetime() (a parameter as that database takes it)
    InventoryUnreadable: a store's inventory files cannot be read (missing, unreadable) — never "no objects"

In DuckDB the catalog table is a copy of one source's CatalogGame rows (the columns the SQL uses), read in
the same database snapshot as the overlay's rows, streamed chunk by chunk into a Parquet file of the
session's temp folder and shown under CatalogGame's table name as a view over that file: DuckDB reads it
from disk through its capped buffer pool, so the reconcile's memory does not grow with the catalog (an
Arrow copy held in memory did: 1.3 GB peak at 30M objects, 6.4M games per source).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import connection

from reconciliation.models import CatalogGame, StoredObject

CATALOG_TABLE = CatalogGame._meta.db_table
# the catalog columns gaps_sql reads (expectation_sql, placed_sql), streamed into Arrow in chunks
_CATALOG_SCHEMA = pa.schema([("source_id", pa.int64()), ("game_id", pa.string()), ("season", pa.string()),
                             ("game_date", pa.date32())])
_CATALOG_CHUNK = 50_000


class InventoryUnreadable(Exception):
    """The files holding a store's inventory cannot be read: the analysis stops, it never reads 'none'."""


@dataclass
class InventorySQL:
    cursor: Any
    dialect: str
    objects: str
    catalog: str = CATALOG_TABLE

    def date(self, value: dt.date):
        return value if self.dialect == "duckdb" else connection.ops.adapt_datefield_value(value)

    def datetime(self, value: dt.datetime):
        return value if self.dialect == "duckdb" else connection.ops.adapt_datetimefield_value(value)


class DuckCursor:
    """DuckDB behind the DB-API subset the callers use; %s placeholders become DuckDB's `?` (the SQL
    holds no other '%s'); a file that cannot be read raises InventoryUnreadable naming the store."""

    def __init__(self, con, store: str):
        self.con, self.store = con, store

    def _run(self, call, *args):
        import duckdb

        try:
            return call(*args)
        except duckdb.IOException as exc:
            raise unreadable(self.store, exc) from None

    def execute(self, sql: str, params=()):
        self._run(self.con.execute, sql.replace("%s", "?"), list(params))
        return self

    def fetchone(self):
        """The first row; the rest of the result is read and dropped (the callers' fetchone queries give
        one row, and DuckDB refuses other work on a connection while a result is unread)."""
        rows = self._run(self.con.fetchall)
        return rows[0] if rows else None

    def fetchall(self):
        return self._run(self.con.fetchall)

    def fetchmany(self, size: int):
        return self._run(self.con.fetchmany, size)


def unreadable(store: str, exc: Exception) -> InventoryUnreadable:
    return InventoryUnreadable(f"the inventory files of {store} cannot be read: {str(exc).splitlines()[0]}")


def catalog_batches(source_id: int) -> Iterator[pa.RecordBatch]:
    """One source's catalog rows (the columns the SQL reads) as Arrow batches, chunk by chunk from a plain
    cursor (SQLite's dates come as ISO text: Arrow parses them)."""
    names = ", ".join(f'"{name}"' for name in _CATALOG_SCHEMA.names)
    with connection.cursor() as cur:
        cur.execute(f'SELECT {names} FROM {CATALOG_TABLE} WHERE "source_id" = %s', [source_id])
        while chunk := cur.fetchmany(_CATALOG_CHUNK):
            columns = list(zip(*chunk))
            arrays = [pa.array(col, type=f.type) for col, f in zip(columns[:3], _CATALOG_SCHEMA)]
            days = columns[3]
            arrays.append(pa.array(days, pa.string()).cast(pa.date32()) if isinstance(days[0], str)
                          else pa.array(days, pa.date32()))
            yield pa.record_batch(arrays, schema=_CATALOG_SCHEMA)


def catalog_file(source_id: int, path: Path) -> Path:
    """One source's catalog written to a Parquet file, one chunk in memory at a time."""
    with pq.ParquetWriter(path, _CATALOG_SCHEMA, compression="snappy") as writer:
        for batch in catalog_batches(source_id):
            writer.write_batch(batch)
    return path


class _Session:
    """The inventories opened in one inventory_session: per store its InventorySQL, per source its
    catalog copy, and which source's catalog each DuckDB connection has registered."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack = stack
        self.stores: dict[str, InventorySQL] = {}
        self.catalogs: dict[int, Path] = {}
        self.registered: dict[str, int] = {}
        self.folder: Path | None = None

    def catalog(self, source_id: int) -> Path:
        """The source's catalog file, written on first use into a temp folder removed with the session
        (a process killed meanwhile leaves it to the snapshot folder's sweep: a reader's spill folder)."""
        if source_id not in self.catalogs:
            if self.folder is None:
                from reconciliation.engine.object_files import reader_tmp_dir

                self.folder = reader_tmp_dir("catalog")
                self.folder.mkdir(parents=True)
                self.stack.callback(shutil.rmtree, self.folder, True)
            self.catalogs[source_id] = catalog_file(source_id, self.folder / f"catalog-{source_id}.parquet")
        return self.catalogs[source_id]


_session: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("adce_inventory_session", default=None)


@contextlib.contextmanager
def inventory_session() -> Iterator[None]:
    """One database snapshot (have_snapshot) in which inventory_sql opens each store's inventory, and
    copies each source's catalog, once: a reconcile reads every data type of a store held in files
    through one DuckDB connection, not one per data type. Nested: the outer one."""
    from reconciliation.engine.have import have_snapshot

    if _session.get() is not None:
        yield
        return
    with have_snapshot(), contextlib.ExitStack() as stack:
        token = _session.set(_Session(stack))
        try:
            yield
        finally:
            _session.reset(token)


@contextlib.contextmanager
def inventory_sql(store: str, catalog_source: int | None = None) -> Iterator[InventorySQL]:
    """The SQL view of one store's inventory: DuckDB over its files when it is held in files (with
    `catalog_source`'s catalog; all read in one snapshot), else Django's connection over StoredObject.
    Inside an inventory_session, opened once per session. DuckDB is imported only for a store in files:
    a reader of rows never loads it."""
    session = _session.get()
    if session is None:
        with inventory_session(), inventory_sql(store, catalog_source) as inv:
            yield inv
        return
    inv = session.stores.get(store)
    if inv is None:
        inv = session.stores[store] = _opened(session.stack, store)
    if inv.dialect != "duckdb":
        yield inv
        return
    import duckdb

    if catalog_source is not None and session.registered.get(store) != catalog_source:
        from reconciliation.engine.inventory_snapshot import _literal

        inv.cursor.con.execute(f'CREATE OR REPLACE TEMP VIEW "{CATALOG_TABLE}" AS '
                               f'SELECT * FROM read_parquet({_literal(session.catalog(catalog_source))})')
        session.registered[store] = catalog_source
    try:
        yield inv
    except duckdb.IOException as exc:  # a file named by the snapshot record is gone or unreadable
        raise unreadable(store, exc) from None


def _opened(stack: contextlib.ExitStack, store: str) -> InventorySQL:
    from reconciliation.engine.object_files import ObjectFilesMissing, file_inventories, objects_duckdb

    if not file_inventories([store]):
        return InventorySQL(stack.enter_context(connection.cursor()), connection.vendor, StoredObject._meta.db_table)
    import duckdb

    try:
        con = stack.enter_context(objects_duckdb([store], tag="reconcile"))
    except (duckdb.IOException, ObjectFilesMissing) as exc:
        raise unreadable(store, exc) from None
    return InventorySQL(DuckCursor(con, store), "duckdb", "objects")
