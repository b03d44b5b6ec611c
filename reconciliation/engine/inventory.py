"""Bulk writes of the stored-object inventory (StoredObject).

A complete scan *replaces* the rows of the regions (store + key prefix) it covered: objects that are no
longer there disappear. Nothing anyone else can see changes until the listing has fully succeeded, and a
listing that fails half-way leaves the inventory exactly as it was. Two ways to get there:

* **Staged** (the general case): rows stream into a per-connection TEMP table (COPY on PostgreSQL;
  on SQLite multi-row INSERTs into a temporary database attached for the scan), then one transaction
  diffs it against the inventory: vanished rows deleted, new or changed rows upserted, unchanged rows
  not touched (a daily rescan of a million mostly unchanged objects then writes next to nothing).
* **Bulk load** (the first ingest: the inventory table is empty, and the caller reads a fast, bounded
  source such as an S3 Inventory report): one transaction from the start; the unique (store, key)
  constraint and the (data type, partition) index are dropped, rows go straight into the table, and
  both are built once at the end — a sorted index build instead of a million B-tree inserts (4.4 s
  instead of 7.7 s for 1M rows on PostgreSQL, see docs/benchmarks.md). A failure rolls it all back,
  indexes included. It holds the table (and, on SQLite, the database's write lock) for the duration,
  which is why a long S3 listing never uses it.

Rows are Arrow record batches in STAGING_SCHEMA order, never ORM
instances: a scan may see millions.

The statements themselves are reconciliation.engine.inventory_sql, SQLite's insert of a batch
reconciliation.engine.sqlite_insert (PostgreSQL's is copy_binary); single objects (S3 events) are
written by reconciliation.engine.inventory_objects. This module owns the staging's lifecycle.
"""
from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from django.db import IntegrityError, connection, transaction

from reconciliation.engine import copy_binary
from reconciliation.engine.inventory_sql import (
    COLUMNS_SQL,
    STAGING,
    TABLE,
    Region,
    analyse_after,
    bulk_indexes,
    delete_vanished,
    diff_apply_postgresql,
    insert_staged,
    inventory_empty,
    region_has_rows,
    staging_columns_sql,
    upsert_changed,
)
from reconciliation.engine.inventory_snapshot import snapshots_supersede, touch_log_lock
from reconciliation.engine.sqlite_insert import STAGE_DB, sqlite_insert, sqlite_stage_attach, sqlite_stage_detach
from reconciliation.engine.write_behind import WriteBehind, sqlite_files

_SQLITE_CACHE_KB = 16_384  # page cache of a scan's writes, bulk load and staged diff alike


class InventoryStaging:
    """Rows of one scan, kept out of sight until `replace()` makes them the inventory.

    Usage: `with InventoryStaging(bulk=…) as staging: staging.add_batch(b) …; staging.replace(regions)`.
    Leaving the block without `replace()` (an error, an interruption) discards everything.
    `bulk=True` allows the bulk load when the inventory is empty (see the module docstring)."""

    def __init__(self, *, bulk: bool = False):
        self.vendor = connection.vendor
        self.allow_bulk = bulk
        self.bulk = False
        self.rows = 0
        self._copy_ctx = None
        self._copy = None
        self._open = False
        self._atomic = None
        self._target = STAGING
        self._write_behind: WriteBehind | None = None
        self._attached = False  # SQLite: staging in a database of its own (sqlite_stage_attach)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> InventoryStaging:
        if self.allow_bulk and self._begin_bulk():
            return self
        with connection.cursor() as cur:
            if self.vendor == "sqlite":
                # The diff probes the inventory's unique index once per staged row, in listing order,
                # which is (S3 listings) or nearly is (the bench's reports) the keys' order: the pages
                # come in sequence, and 128 MB of cache instead of 16 cost 40–90 MB more peak at 3M
                # objects for no CPU saved (docs/benchmarks.md §10). Staging stays in a temporary *file*.
                cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KB}")
                self._attached = sqlite_stage_attach(cur)
            cur.execute(f"DROP TABLE IF EXISTS {STAGING}")
            # insertion order, so that the later of two rows for one key wins (PostgreSQL; SQLite has rowid)
            order = ", n bigserial" if self.vendor == "postgresql" else ""
            create = f"CREATE TABLE {STAGE_DB}.{STAGING}" if self._attached else f"CREATE TEMP TABLE {STAGING}"
            cur.execute(f"{create} ({staging_columns_sql()}{order})")
        self._open = True
        return self

    def _begin_bulk(self) -> bool:
        """Open the bulk load's transaction if the inventory is empty; False (nothing done) if not."""
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            with connection.cursor() as cur:
                if self.vendor == "postgresql":
                    touch_log_lock(cur)  # before the table: writers log their key first, then write it
                    # Taken before looking, so no concurrent scan can fill the table in between.
                    cur.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
                    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
                else:
                    cur.execute(f"DELETE FROM {TABLE} WHERE 0")  # takes SQLite's write lock before looking
                    # Rows are appended and the indexes built by SQLite's sorter, which spills to its
                    # temp files: a big page cache only held a growing copy of the new pages (~100 MB
                    # more peak memory at 1M and 3M objects, no CPU saved: docs/benchmarks.md §7).
                    cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KB}")
                if not inventory_empty(cur):
                    transaction.set_rollback(True)
                    atomic.__exit__(None, None, None)
                    return False
                unique, indexes = bulk_indexes()
                for drop, _create in unique + indexes:
                    cur.execute(drop)
        except BaseException as exc:
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._atomic, self.bulk, self._target = atomic, True, TABLE
        if self.vendor == "sqlite":
            # ~240 MB of new pages per million rows: let the disk take them while rows still go in.
            self._write_behind = WriteBehind(sqlite_files(connection.settings_dict["NAME"])).start()
        return True

    def _stop_write_behind(self) -> None:
        write_behind, self._write_behind = self._write_behind, None
        if write_behind is not None:
            write_behind.stop()

    def __exit__(self, exc_type, exc, tb):
        self._end_copy(abort=exc_type is not None)
        if self._atomic is not None:  # a bulk load left without replace(): undo everything
            atomic, self._atomic = self._atomic, None
            if exc_type is None:
                transaction.set_rollback(True)
            try:
                atomic.__exit__(exc_type, exc, tb)
            finally:
                self._stop_write_behind()
        self._drop()
        return False

    def _drop(self):
        if not self._open:
            return
        self._open = False
        try:
            with connection.cursor() as cur:
                if self._attached:
                    self._attached = False
                    sqlite_stage_detach(cur)
                else:
                    cur.execute(f"DROP TABLE IF EXISTS {STAGING}")
        except Exception:  # the connection may be broken by the very error we are unwinding
            pass

    # -- staging ---------------------------------------------------------------------------
    @property
    def table(self) -> str:
        """The staging table's name as the swap's statements write it."""
        return self._target

    def index(self) -> None:
        """Index (SQLite) or analyse (PostgreSQL) the staged rows before a diff reads them."""
        self._end_copy()
        with connection.cursor() as cur:
            staging_index(cur, self._target, STAGE_DB if self._attached else "")

    def add_batch(self, batch: pa.RecordBatch, *, count: bool = True) -> None:
        """A STAGING_SCHEMA batch. `count=False`: not one of the scan's rows (a rescan re-staging a
        touched key), left out of `rows`."""
        if not batch.num_rows:
            return
        if count:
            self.rows += batch.num_rows
        if self.vendor == "postgresql":
            if self._copy is None:
                cur = connection.cursor().cursor  # the psycopg 3 cursor under Django's wrapper
                # Binary tuples: the server stores them almost as they come, where parsing CSV cost
                # it a second per million rows (reconciliation.engine.copy_binary).
                self._copy_ctx = copy_binary.binary_copy(cur, self._target, COLUMNS_SQL)
                self._copy = self._copy_ctx.__enter__()
            self._copy.write(copy_binary.encode_rows(batch))
        else:
            connection.ensure_connection()
            cur = connection.connection.cursor()  # sqlite3's own: "?" placeholders, no per-row wrapping
            try:
                sqlite_insert(cur, self._target, batch)
            finally:
                cur.close()

    def flush(self) -> None:
        """Every row added so far is in the staging table (PostgreSQL: the COPY stream ends)."""
        self._end_copy()

    def _end_copy(self, *, abort: bool = False):
        """Finish the COPY stream; every row is in the database after it."""
        if self._copy_ctx is None:
            return
        ctx, self._copy_ctx, self._copy = self._copy_ctx, None, None
        try:
            # Leaving binary_copy writes the trailer. Even when aborting, end the COPY cleanly: failing
            # it server-side would poison an enclosing transaction. The staged rows are dropped with
            # the table anyway.
            ctx.__exit__(None, None, None)
        except Exception:
            if not abort:
                raise

    # -- the swap ---------------------------------------------------------------------------
    def replace(self, regions: Sequence[Region], *, on_swapped=None) -> dict:
        """Make the inventory of `regions` exactly the staged rows, in one transaction.

        `on_swapped(counts)` runs inside that transaction (the scan marks itself complete there, so the
        inventory and the run's status can never disagree). Returns counts: deleted (rows gone from
        the store), written (new or changed rows), unchanged, staged.

        First inventory of a region: a plain bulk INSERT. Later scans diff against what is there:
        rows that vanished are deleted, new or changed rows upserted, unchanged rows not touched at all
        (a daily rescan of a million mostly-unchanged objects then costs two joins, not a rewrite of
        the table and its indexes). An unchanged row keeps the id of the scan that wrote it."""
        self._end_copy()
        if self.bulk:
            return self._finish_bulk(regions, self.rows, on_swapped)
        schema = STAGE_DB if self._attached else ""
        return swap_staged(regions, self.rows, schema=schema, on_swapped=on_swapped)

    def _finish_bulk(self, regions: Sequence[Region], staged: int, on_swapped) -> dict:
        with connection.cursor() as cur:
            duplicates = build_indexes(cur, dedupe_by_id)
            snapshots_supersede(regions)
            swap = {"deleted": 0, "written": staged - duplicates, "unchanged": 0, "staged": staged, "bulk_load": True}
            if on_swapped is not None:
                on_swapped(swap)
        atomic, self._atomic = self._atomic, None
        try:
            atomic.__exit__(None, None, None)  # the commit, and SQLite's checkpoint with it
        finally:
            self._stop_write_behind()
        return swap


def swap_staged(regions: Sequence[Region], staged: int, *, staging: str = STAGING, schema: str = "",
                on_swapped=None) -> dict:
    """The swap of InventoryStaging.replace (not a bulk load), from the staging table `staging` (in the
    attached database `schema` on SQLite, if any): a scan staged by several processes
    (reconciliation.engine.inventory_shared) swaps through this same code."""
    vendor = connection.vendor
    with connection.cursor() as cur:
        existing = any(region_has_rows(cur, r) for r in regions)
        if existing:
            staging_index(cur, staging, schema)
    with transaction.atomic(), connection.cursor() as cur:
        touch_log_lock(cur)
        # Whoever swaps a store replaces its snapshot: a scan records its own in on_swapped.
        snapshots_supersede(regions)
        if existing and vendor == "postgresql":
            # The diff is a hash join of the staged rows and the region: in memory, not
            # spilled to disk in 4 MB pieces (the default work_mem), for this transaction only.
            cur.execute("SET LOCAL work_mem = '256MB'")
            # Never a nested loop, whatever the statistics say: with the table's estimate stale or
            # never gathered (autovacuum off, a first inventory written row by row) the planner
            # chose a nested-loop anti join that scanned the staged rows once per stored row —
            # 40 s for 20,000 objects, minutes for a real lake. A hash (or merge) join is linear
            # in both sides; the price is one scan of the region where an index probe would have
            # done for a tiny rescan.
            cur.execute("SET LOCAL enable_nestloop = off")
        if existing and vendor == "postgresql":
            written, deleted = diff_apply_postgresql(cur, regions, staging)
        elif existing:
            written = upsert_changed(cur, vendor, staging)
            deleted = sum(delete_vanished(cur, r, vendor, staging) for r in regions)
        else:
            deleted = 0
            written = insert_staged(cur, vendor, staging)
        swap = {"deleted": deleted, "written": written, "unchanged": max(staged - written, 0), "staged": staged}
        if on_swapped is not None:
            on_swapped(swap)
    if vendor == "postgresql":
        analyse_after(deleted + written)
    return swap


def staging_index(cur, staging: str = STAGING, schema: str = "") -> None:
    """Before a diff reads the staging table: PostgreSQL's statistics of it (autovacuum never analyses
    temp tables), SQLite's (key, store) index (the diff probes it once per stored or staged row)."""
    if connection.vendor == "postgresql":
        cur.execute(f"ANALYZE {staging}")
    else:
        index = f"{schema}.{staging}_key" if schema else f"{staging}_key"  # an index lives with its table
        cur.execute(f'CREATE INDEX {index} ON {staging} ("key", "store")')


def build_indexes(cur, dedupe) -> int:
    """End of a bulk load (indexes dropped, rows in the table): build the unique (store, key) constraint
    and the indexes once. A key loaded twice (an inventory report can list it twice) makes the unique
    build fail: `dedupe(cur)` then keeps the later row of each key and returns how many it removed."""
    unique, indexes = bulk_indexes()
    duplicates = 0
    try:
        with transaction.atomic():
            for _drop, create in unique:
                cur.execute(create)
    except IntegrityError:
        duplicates = dedupe(cur)
        for _drop, create in unique:
            cur.execute(create)
    for _drop, create in indexes:
        cur.execute(create)
    if connection.vendor == "postgresql":
        cur.execute(f"ANALYZE {TABLE}")  # the planner must know it now holds a million rows
    return duplicates


def dedupe_by_id(cur) -> int:
    """Rows went in in listing order: the highest id of a key is its later row."""
    cur.execute(f'DELETE FROM {TABLE} WHERE "id" NOT IN (SELECT max("id") FROM {TABLE} GROUP BY "store", "key")')
    return max(cur.rowcount, 0)
