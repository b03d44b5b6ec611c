"""Bulk writes of the stored-object inventory (StoredObject).

A complete scan *replaces* the rows of the regions (store + key prefix) it covered: objects that are no
longer there disappear. Nothing anyone else can see changes until the listing has fully succeeded, and a
listing that fails half-way leaves the inventory exactly as it was. Two ways to get there:

* **Staged** (the general case): rows stream into a per-connection TEMP table (COPY on PostgreSQL,
  executemany on SQLite), then one transaction diffs it against the inventory: vanished rows deleted,
  new or changed rows upserted, unchanged rows not touched (a daily rescan of a million mostly
  unchanged objects then writes next to nothing).
* **Bulk load** (the first ingest: the inventory table is empty, and the caller reads a fast, bounded
  source such as an S3 Inventory report): one transaction from the start; the unique (store, key)
  constraint and the (data type, partition) index are dropped, rows go straight into the table, and
  both are built once at the end — a sorted index build instead of a million B-tree inserts (4.4 s
  instead of 7.7 s for 1M rows on PostgreSQL, see docs/benchmarks.md). A failure rolls it all back,
  indexes included. It holds the table (and, on SQLite, the database's write lock) for the duration,
  which is why a long S3 listing never uses it.

Rows are Arrow record batches in STAGING_SCHEMA order, never ORM
instances: a scan may see millions.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from django.db import IntegrityError, ProgrammingError, connection, transaction

from reconciliation.engine import copy_binary
from reconciliation.engine.limits import fit_etags, fit_matches
from reconciliation.models import StoredObject
from reconciliation.engine.write_behind import WriteBehind, sqlite_files

TABLE = StoredObject._meta.db_table
STAGING = "adce_inventory_staging"
# (store, key, size, last_modified, etag, source_id, data_type_id, partition, scan_id)
STAGING_COLUMNS = ("store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition", "scan_id")
STAGING_SCHEMA = pa.schema([
    ("store", pa.string()), ("key", pa.string()), ("size", pa.int64()),
    ("last_modified", pa.timestamp("us", tz="UTC")), ("etag", pa.string()), ("source_id", pa.int64()),
    ("data_type_id", pa.int64()), ("partition", pa.string()), ("scan_id", pa.int64()),
])
_COLS = ", ".join(f'"{c}"' for c in STAGING_COLUMNS)
_UTC = dt.timezone.utc
_SQLITE_ROWS = 250  # rows per INSERT statement on SQLite (bounded by its bound-variable limit)
_SQLITE_CHUNK = 10_000  # rows turned into Python values at a time
_SQLITE_CACHE_KB = 131_072  # page cache of a staged scan's diff
_SQLITE_BULK_CACHE_KB = 16_384  # page cache of a bulk load


@dataclass(frozen=True)
class Region:
    """The part of a store a complete scan saw entirely: every key of `store` starting with `prefix`."""

    store: str
    prefix: str


def sqlite_datetime(value: dt.datetime) -> str:
    """The text Django's SQLite backend stores for an aware DateTimeField value (naive UTC, str())."""
    if value.tzinfo is _UTC:  # the storage layer's contract: the fast path
        return value.isoformat(" ")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(" ")


def sqlite_datetimes(values: pa.Array) -> pa.Array:
    """sqlite_datetime over a column: "YYYY-MM-DD HH:MM:SS", plus ".ffffff" only when there are
    microseconds (what str() of the naive UTC datetime gives)."""
    naive = values.cast(pa.timestamp("us"))  # drop the zone: formatting with one costs 30x more
    whole = naive.cast(pa.timestamp("s"), safe=False)
    seconds = whole.cast(pa.string())
    exact = pc.equal(whole.cast(pa.timestamp("us")), naive)
    if pc.all(exact).as_py():
        return seconds
    return pc.if_else(exact, seconds, naive.cast(pa.string()))


def _constant(column: pa.Array):
    """(True, value) when every row of the column holds the same value (None included), else (False, None)."""
    nulls = column.null_count
    if nulls == len(column):
        return True, None
    if nulls:
        return False, None
    low, high = pc.min_max(column).values()
    return (True, low.as_py()) if low == high else (False, None)


def _sqlite_insert(cur, table: str, batch: pa.RecordBatch) -> None:
    """Multi-row INSERTs of a few hundred rows each, with the columns a scan's batch holds constant
    (store, scan) written into the statement. Fewer statement executions and fewer values to bind
    are what there is to gain in SQLite's insert: 1.2 s instead of 2.2 s for a million rows
    (executemany steps and resets the statement once per row)."""
    values, columns = [], []
    for i, name in enumerate(STAGING_COLUMNS):
        column = batch.column(i)
        same, value = _constant(column) if name in ("store", "scan_id") else (False, None)
        if same:
            values.append(_literal(value))
        else:
            values.append("?")
            columns.append(sqlite_datetimes(column) if name == "last_modified" else column)
    row, width = f"({', '.join(values)})", len(columns)
    per_statement = max(1, min(_SQLITE_ROWS, cur.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    sql = f"INSERT INTO {table} ({_COLS}) VALUES {', '.join([row] * per_statement)}"
    step = per_statement * width
    # A slice of the batch at a time becomes Python values: a few MB that the allocator reuses, where
    # a whole batch's millions of objects would be fresh memory for the OS to fault in every time.
    chunk = per_statement * max(1, _SQLITE_CHUNK // per_statement)
    for offset in range(0, batch.num_rows, chunk):
        n = min(chunk, batch.num_rows - offset)
        flat = [None] * (n * width)  # row-major; slice assignment copies each column in C, no row tuples
        for i, column in enumerate(columns):
            flat[i::width] = column.slice(offset, n).to_pylist()
        full, rest = divmod(n, per_statement)
        for start in range(0, full * step, step):
            cur.execute(sql, flat[start:start + step])
        if rest:
            cur.execute(f"INSERT INTO {table} ({_COLS}) VALUES {', '.join([row] * rest)}", flat[full * step:])


def _literal(value) -> str:
    """An SQLite literal for a store name (str), a scan id (int) or None."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _staging_columns_sql() -> str:
    """The staging table's columns exactly as the inventory's own: types, NULL, collation (binary COPY
    needs the same types; joins on key, store and partition need the same collation)."""
    fields = {f.attname: f for f in StoredObject._meta.concrete_fields}
    columns = []
    for name in STAGING_COLUMNS:
        field = fields[name]
        collation = field.db_parameters(connection).get("collation")
        columns.append(f"{connection.ops.quote_name(name)} {field.db_type(connection)}"
                       + (f" COLLATE {connection.ops.quote_name(collation)}" if collation else "")
                       + (" NULL" if field.null else " NOT NULL"))
    return ", ".join(columns)


def _inventory_empty(cur) -> bool:
    cur.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
    return cur.fetchone() is None


def _bulk_indexes():
    """(drop, create) SQL of the unique (store, key) constraint and the secondary indexes, from the
    model's own declarations (so they come back exactly as the migrations made them)."""
    editor = connection.schema_editor()
    editor.deferred_sql = []  # only SQL text is asked of it; it is never entered (that would commit)
    meta = StoredObject._meta
    unique = [(str(c.remove_sql(StoredObject, editor)), str(c.create_sql(StoredObject, editor))) for c in meta.constraints]
    indexes = [(str(i.remove_sql(StoredObject, editor)), str(i.create_sql(StoredObject, editor))) for i in meta.indexes]
    return unique, indexes


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

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> InventoryStaging:
        if self.allow_bulk and self._begin_bulk():
            return self
        with connection.cursor() as cur:
            if self.vendor == "sqlite":
                # The diff probes the inventory's unique index once per staged row: a page cache big
                # enough to hold a good part of it (the default is 2 MB). Staging stays in SQLite's temp
                # *file*: memory bounded by the cache whatever the lake's size.
                cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KB}")
            cur.execute(f"DROP TABLE IF EXISTS {STAGING}")
            # insertion order, so that the later of two rows for one key wins (PostgreSQL; SQLite has rowid)
            order = ", n bigserial" if self.vendor == "postgresql" else ""
            cur.execute(f"CREATE TEMP TABLE {STAGING} ({_staging_columns_sql()}{order})")
        self._open = True
        return self

    def _begin_bulk(self) -> bool:
        """Open the bulk load's transaction if the inventory is empty; False (nothing done) if not."""
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            with connection.cursor() as cur:
                if self.vendor == "postgresql":
                    # Taken before looking, so no concurrent scan can fill the table in between.
                    cur.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
                    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
                else:
                    cur.execute(f"DELETE FROM {TABLE} WHERE 0")  # takes SQLite's write lock before looking
                    # Rows are appended and the indexes built by SQLite's sorter, which spills to its
                    # temp files: a big page cache only held a growing copy of the new pages (~100 MB
                    # more peak memory at 1M and 3M objects, no CPU saved: docs/benchmarks.md §7).
                    cur.execute(f"PRAGMA cache_size = -{_SQLITE_BULK_CACHE_KB}")
                if not _inventory_empty(cur):
                    transaction.set_rollback(True)
                    atomic.__exit__(None, None, None)
                    return False
                unique, indexes = _bulk_indexes()
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
                cur.execute(f"DROP TABLE IF EXISTS {STAGING}")
        except Exception:  # the connection may be broken by the very error we are unwinding
            pass

    # -- staging ---------------------------------------------------------------------------
    def add_batch(self, batch: pa.RecordBatch) -> None:
        """A STAGING_SCHEMA batch."""
        if not batch.num_rows:
            return
        self.rows += batch.num_rows
        if self.vendor == "postgresql":
            if self._copy is None:
                from psycopg.copy import QueuedLibpqWriter

                cur = connection.cursor().cursor  # the psycopg 3 cursor under Django's wrapper
                # A writer thread feeds the server while this one goes on reading and matching: the
                # server parses and stores on the other core.
                # Binary tuples: the server stores them almost as they come, where parsing CSV cost
                # it a second per million rows (reconciliation.engine.copy_binary).
                self._copy_ctx = cur.copy(f"COPY {self._target} ({_COLS}) FROM STDIN (FORMAT binary)",
                                          writer=QueuedLibpqWriter(cur))
                self._copy = self._copy_ctx.__enter__()
                self._copy.write(copy_binary.HEADER)
            self._copy.write(copy_binary.encode_rows(batch))
        else:
            connection.ensure_connection()
            cur = connection.connection.cursor()  # sqlite3's own: "?" placeholders, no per-row wrapping
            try:
                _sqlite_insert(cur, self._target, batch)
            finally:
                cur.close()

    def _end_copy(self, *, abort: bool = False):
        """Finish the COPY stream; every row is in the database after it."""
        if self._copy_ctx is None:
            return
        ctx, copy, self._copy_ctx, self._copy = self._copy_ctx, self._copy, None, None
        try:
            copy.write(copy_binary.TRAILER)
            # Even when aborting, end the COPY cleanly: failing it server-side would poison an
            # enclosing transaction. The staged rows are dropped with the table anyway.
            ctx.__exit__(None, None, None)
        except Exception:
            if not abort:
                raise

    # -- the swap ---------------------------------------------------------------------------
    def replace(self, regions: Sequence[Region], *, on_swapped=None) -> dict:
        """Make the inventory of `regions` exactly the staged rows, in one transaction.

        `on_swapped()` runs inside that transaction (the scan marks itself complete there, so the
        inventory and the run's status can never disagree). Returns counts: deleted (rows gone from
        the store), written (new or changed rows), unchanged, staged.

        First inventory of a region: a plain bulk INSERT. Later scans diff against what is there:
        rows that vanished are deleted, new or changed rows upserted, unchanged rows not touched at all
        (a daily rescan of a million mostly-unchanged objects then costs two joins, not a rewrite of
        the table and its indexes). An unchanged row keeps the id of the scan that wrote it."""
        self._end_copy()
        staged = self.rows
        if self.bulk:
            return self._finish_bulk(staged, on_swapped)
        with connection.cursor() as cur:
            existing = any(_region_has_rows(cur, r) for r in regions)
            if existing:
                if self.vendor == "postgresql":
                    cur.execute(f"ANALYZE {STAGING}")  # autovacuum never analyses temp tables
                else:
                    cur.execute(f'CREATE INDEX {STAGING}_key ON {STAGING} ("key", "store")')
        with transaction.atomic(), connection.cursor() as cur:
            if existing and self.vendor == "postgresql":
                # Both diffs are hash anti-joins of the staged rows and the region: in memory, not
                # spilled to disk in 4 MB pieces (the default work_mem), for this transaction only.
                cur.execute("SET LOCAL work_mem = '256MB'")
                # Never a nested loop, whatever the statistics say: with the table's estimate stale or
                # never gathered (autovacuum off, a first inventory written row by row) the planner
                # chose a nested-loop anti join that scanned the staged rows once per stored row —
                # 40 s for 20,000 objects, minutes for a real lake. A hash (or merge) join is linear
                # in both sides; the price is one scan of the region where an index probe would have
                # done for a tiny rescan.
                cur.execute("SET LOCAL enable_nestloop = off")
            if existing:
                written = _upsert_changed(cur, self.vendor)
                deleted = sum(_delete_vanished(cur, r, self.vendor) for r in regions)
            else:
                deleted = 0
                written = _insert_staged(cur, self.vendor)
            if on_swapped is not None:
                on_swapped()
        if self.vendor == "postgresql":
            _analyse_after(deleted + written)
        return {"deleted": deleted, "written": written, "unchanged": max(staged - written, 0), "staged": staged}

    def _finish_bulk(self, staged: int, on_swapped) -> dict:
        unique, indexes = _bulk_indexes()
        duplicates = 0
        with connection.cursor() as cur:
            try:
                with transaction.atomic():
                    for _drop, create in unique:
                        cur.execute(create)
            except IntegrityError:
                # A key listed twice (an inventory report can): the later row wins, as when staged.
                cur.execute(f'DELETE FROM {TABLE} WHERE "id" NOT IN (SELECT max("id") FROM {TABLE} GROUP BY "store", "key")')
                duplicates = max(cur.rowcount, 0)
                for _drop, create in unique:
                    cur.execute(create)
            for _drop, create in indexes:
                cur.execute(create)
            if self.vendor == "postgresql":
                cur.execute(f"ANALYZE {TABLE}")  # the planner must know it now holds a million rows
            if on_swapped is not None:
                on_swapped()
        atomic, self._atomic = self._atomic, None
        try:
            atomic.__exit__(None, None, None)  # the commit, and SQLite's checkpoint with it
        finally:
            self._stop_write_behind()
        written = staged - duplicates
        return {"deleted": 0, "written": written, "unchanged": 0, "staged": staged, "bulk_load": True}


def _analyse_after(changed: int) -> None:
    """ANALYZE the inventory after a change large for its size (PostgreSQL), so that no later query
    plans against statistics of a table that no longer exists: autovacuum may be off (it is on the
    project's machine) and never analyses within the minute anyway. Cheap: a 30,000-row sample."""
    if not changed:
        return
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [TABLE])
        known = cur.fetchone()[0]
        if known < 0 or changed >= max(1000, 0.1 * known):  # -1: never analysed
            cur.execute(f"ANALYZE {TABLE}")


def _region_sql(region: Region, vendor: str, alias: str = "") -> tuple[str, list]:
    col = f'{alias}"key"' if alias else '"key"'
    store = f'{alias}"store"' if alias else '"store"'
    if not region.prefix:
        return f"{store} = %s", [region.store]
    if vendor == "postgresql":
        return f"{store} = %s AND starts_with({col}, %s)", [region.store, region.prefix]
    # substr counts characters like len(); no LIKE, whose wildcards and case-folding would need escaping.
    return f"{store} = %s AND substr({col}, 1, %s) = %s", [region.store, len(region.prefix), region.prefix]


def _region_has_rows(cur, region: Region) -> bool:
    cond, params = _region_sql(region, connection.vendor)
    cur.execute(f"SELECT 1 FROM {TABLE} WHERE {cond} LIMIT 1", params)
    return cur.fetchone() is not None


def _delete_vanished(cur, region: Region, vendor: str) -> int:
    """Delete the rows of `region` that were not staged; run after the upsert, which left every staged
    key of the region in the table."""
    if vendor == "sqlite" and _none_vanished(cur, region):
        return 0
    cond, params = _region_sql(region, vendor, f"{TABLE}.")
    cur.execute(
        f"DELETE FROM {TABLE} WHERE {cond} AND NOT EXISTS (SELECT 1 FROM {STAGING} s "
        f'WHERE s."store" = {TABLE}."store" AND s."key" = {TABLE}."key")', params)
    return max(cur.rowcount, 0)


def _none_vanished(cur, region: Region) -> bool:
    """After the upsert the region holds its stored rows plus every staged key: it holds exactly as many
    rows as distinct keys were staged in it only if no stored row is missing from the staging. Two index
    scans, where the anti-join probes the staging's index once per stored row (SQLite has no hash join):
    a rescan where nothing vanished skips it."""
    cond, params = _region_sql(region, "sqlite")
    cur.execute(f"SELECT count(*) FROM {TABLE} WHERE {cond}", params)
    stored = cur.fetchone()[0]
    cur.execute(f'SELECT count(*) FROM (SELECT DISTINCT "key", "store" FROM {STAGING} WHERE {cond})', params)
    return stored == cur.fetchone()[0]


def _upsert_changed(cur, vendor: str) -> int:
    same = "IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"
    changed_only = (
        f'WHERE NOT EXISTS (SELECT 1 FROM {TABLE} m WHERE m."store" = s."store" AND m."key" = s."key" '
        f'AND m."size" = s."size" AND m."last_modified" = s."last_modified" AND m."etag" = s."etag" '
        f'AND m."partition" = s."partition" AND m."data_type_id" {same} s."data_type_id" '
        f'AND m."source_id" {same} s."source_id")'
    )
    upsert = ' ON CONFLICT ("key", "store") DO UPDATE SET ' + ", ".join(
        f'"{c}" = excluded."{c}"' for c in STAGING_COLUMNS[2:])
    cols = ", ".join(f's."{c}"' for c in STAGING_COLUMNS)
    if vendor == "postgresql":
        try:
            with transaction.atomic():
                cur.execute(f"INSERT INTO {TABLE} ({_COLS}) SELECT {cols} FROM {STAGING} s {changed_only}{upsert}")
                return max(cur.rowcount, 0)
        except ProgrammingError:  # a key staged twice: "cannot affect row a second time"
            pass
        cur.execute(f"INSERT INTO {TABLE} ({_COLS}) SELECT DISTINCT ON (s.store, s.key) {cols} FROM {STAGING} s "
                    f"{changed_only} ORDER BY s.store, s.key, s.n DESC{upsert}")
    else:
        # SQLite applies the rows in order, so the later of two rows for one key wins.
        cur.execute(f"INSERT INTO {TABLE} ({_COLS}) SELECT {cols} FROM {STAGING} s {changed_only} "
                    f"ORDER BY s.rowid{upsert}")
    return max(cur.rowcount, 0)


def _insert_staged(cur, vendor: str) -> int:
    """Copy the staged rows into regions that hold no row yet. The plain INSERT is the fast path; a key
    staged twice (an inventory report listing it twice) makes it fail, and then the later row wins."""
    try:
        with transaction.atomic():
            cur.execute(f"INSERT INTO {TABLE} ({_COLS}) SELECT {_COLS} FROM {STAGING}")
            return max(cur.rowcount, 0)
    except IntegrityError:
        pass
    if vendor == "postgresql":
        cur.execute(f"INSERT INTO {TABLE} ({_COLS}) SELECT DISTINCT ON (store, key) {_COLS} FROM {STAGING} "
                    f"ORDER BY store, key, n DESC")
    else:
        cur.execute(f"INSERT OR REPLACE INTO {TABLE} ({_COLS}) SELECT {_COLS} FROM {STAGING} ORDER BY rowid")
        cur.execute(f'SELECT count(*) FROM (SELECT DISTINCT "store", "key" FROM {STAGING})')
        return cur.fetchone()[0]
    return max(cur.rowcount, 0)


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
        qs = StoredObject.objects.filter(store=store, key__in=keys[i:i + 2000])
        touched.update((d, p) for d, p in qs.exclude(data_type=None).values_list("data_type_id", "partition"))
        qs.delete()
    return touched


def _source_of_data_type() -> dict[int, int]:
    from reconciliation.models import DataType

    return dict(DataType.objects.values_list("id", "source_id"))
