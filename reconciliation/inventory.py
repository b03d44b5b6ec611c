"""Bulk writes of the stored-object inventory (StoredObject).

A complete scan *replaces* the rows of the regions (store + key prefix) it covered: objects that are no
longer there disappear. Nothing touches the real table until the listing has fully succeeded: rows are
streamed into a per-connection TEMP staging table (COPY on PostgreSQL, executemany on SQLite) and then
swapped in with one transaction (delete the region's rows, insert the staged ones). A listing that fails
half-way only drops the staging table, so a failed or interrupted scan leaves the inventory untouched.

Rows are plain tuples in STAGING_COLUMNS order — never ORM instances — because a scan may see millions.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, ProgrammingError, connection, transaction

from .models import StoredObject

TABLE = StoredObject._meta.db_table
STAGING = "adce_inventory_staging"
# (store, key, size, last_modified, etag, source_id, data_type_id, partition, scan_id)
STAGING_COLUMNS = ("store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition", "scan_id")
_COLS = ", ".join(f'"{c}"' for c in STAGING_COLUMNS)
_UTC = dt.timezone.utc
_BATCH = 20_000


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


class InventoryStaging:
    """Rows of one scan, staged outside the inventory until `replace()` swaps them in.

    Usage: `with InventoryStaging() as staging: staging.add(rows) …; staging.replace(regions)`. Leaving the
    block without `replace()` (an error, an interruption) discards everything."""

    def __init__(self):
        self.vendor = connection.vendor
        self.rows = 0
        self._batch: list[tuple] = []
        self._copy_ctx = None
        self._copy = None
        self._open = False
        self._dt_text: dict[int, tuple] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> InventoryStaging:
        with connection.cursor() as cur:
            if self.vendor == "sqlite":
                # A page cache big enough that the index inserts of a million-row swap do not thrash
                # (the default is 2 MB). Staging stays in SQLite's temp *file*: memory bounded by the
                # cache whatever the lake's size (in-memory staging was ~20 % faster but O(objects)).
                cur.execute("PRAGMA cache_size = -131072")
            cur.execute(f"DROP TABLE IF EXISTS {STAGING}")
            cur.execute(
                f"CREATE TEMP TABLE {STAGING} (store varchar(255) NOT NULL, key text NOT NULL, size bigint NOT NULL,"
                f" last_modified {'timestamptz' if self.vendor == 'postgresql' else 'datetime'} NOT NULL,"
                f" etag varchar(80) NOT NULL, source_id bigint NULL, data_type_id bigint NULL,"
                f" partition varchar(64) NOT NULL, scan_id bigint NULL"
                # insertion order, so that the later of two rows for one key wins (PostgreSQL; SQLite has rowid)
                f"{', n bigserial' if self.vendor == 'postgresql' else ''})"
            )
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb):
        self._end_copy(abort=exc_type is not None)
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
    def add(self, row: tuple) -> None:
        """One row in STAGING_COLUMNS order; last_modified an aware datetime."""
        self._batch.append(row)
        if len(self._batch) >= _BATCH:
            self.flush()

    def extend(self, rows: Iterable[tuple]) -> None:
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        self.rows += len(batch)
        if self.vendor == "postgresql":
            if self._copy is None:
                cur = connection.cursor().cursor  # the psycopg 3 cursor under Django's wrapper
                # Binary COPY: half the cost of the text format for a million rows (no formatting).
                self._copy_ctx = cur.copy(f"COPY {STAGING} ({_COLS}) FROM STDIN (FORMAT BINARY)")
                self._copy = self._copy_ctx.__enter__()
                self._copy.set_types(["varchar", "text", "int8", "timestamptz", "varchar", "int8", "int8", "varchar", "int8"])
            write = self._copy.write_row
            for row in batch:
                write(row)
        else:
            fmt = self._sqlite_text
            with connection.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {STAGING} ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    ((r[0], r[1], r[2], fmt(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in batch),
                )

    def _sqlite_text(self, value: dt.datetime) -> str:
        # Listers and report readers hand out one datetime object per distinct timestamp (they cache
        # their parses), so remembering the text per object skips most of the formatting.
        cache = self._dt_text
        hit = cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = sqlite_datetime(value)
        if len(cache) >= 200_000:
            cache.clear()
        cache[id(value)] = (value, text)  # holding `value` keeps its id from being reused
        return text

    def _end_copy(self, *, abort: bool = False):
        if self._copy_ctx is None:
            return
        ctx, self._copy_ctx, self._copy = self._copy_ctx, None, None
        try:
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
        the table and its five indexes). An unchanged row keeps the id of the scan that wrote it."""
        self.flush()
        self._end_copy()
        staged = self.rows
        with connection.cursor() as cur:
            existing = any(_region_has_rows(cur, r) for r in regions)
            if existing:
                cur.execute(f'CREATE INDEX {STAGING}_key ON {STAGING} ("store", "key")')
                if self.vendor == "postgresql":
                    cur.execute(f"ANALYZE {STAGING}")  # autovacuum never analyses temp tables
        with transaction.atomic(), connection.cursor() as cur:
            if existing:
                deleted = sum(_delete_vanished(cur, r, self.vendor) for r in regions)
                written = _upsert_changed(cur, self.vendor)
            else:
                deleted = 0
                written = _insert_staged(cur, self.vendor)
            if on_swapped is not None:
                on_swapped()
        return {"deleted": deleted, "written": written, "unchanged": max(staged - written, 0), "staged": staged}


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
    cond, params = _region_sql(region, vendor, f"{TABLE}.")
    cur.execute(
        f"DELETE FROM {TABLE} WHERE {cond} AND NOT EXISTS (SELECT 1 FROM {STAGING} s "
        f'WHERE s."store" = {TABLE}."store" AND s."key" = {TABLE}."key")', params)
    return max(cur.rowcount, 0)


def _upsert_changed(cur, vendor: str) -> int:
    same = "IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"
    changed_only = (
        f'WHERE NOT EXISTS (SELECT 1 FROM {TABLE} m WHERE m."store" = s."store" AND m."key" = s."key" '
        f'AND m."size" = s."size" AND m."last_modified" = s."last_modified" AND m."etag" = s."etag" '
        f'AND m."partition" = s."partition" AND m."data_type_id" {same} s."data_type_id" '
        f'AND m."source_id" {same} s."source_id")'
    )
    upsert = ' ON CONFLICT ("store", "key") DO UPDATE SET ' + ", ".join(
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


def inventory_replace(regions: Sequence[Region], rows: Iterable[tuple]) -> dict:
    """Convenience for callers that already hold every row: stage them and swap them in."""
    with InventoryStaging() as staging:
        staging.extend(rows)
        return staging.replace(regions)


def objects_upsert(store: str, objects: Iterable, *, matcher=None, scan=None) -> set[tuple[int, str]]:
    """Insert or refresh single objects (S3 event closed loop), matched like a scan would.

    `objects` are ObjectInfo-like (key, size, last_modified, etag). Returns the (data_type_id, partition)
    pairs touched, for `gaps_rejudge`."""
    from .patterns import PartitionMatcher

    matcher = matcher or PartitionMatcher.from_db()
    source_of = _source_of_data_type()
    rows, touched = [], set()
    for obj in objects:
        m = matcher.match(store, obj.key)
        dt_id = m.data_type_id if m else None
        part = m.partition if m else ""
        if m:
            touched.add((dt_id, part))
        rows.append(StoredObject(
            store=store, key=obj.key, size=obj.size, last_modified=obj.last_modified, etag=getattr(obj, "etag", "") or "",
            source_id=source_of.get(dt_id), data_type_id=dt_id, partition=part, scan=scan,
        ))
    if rows:
        StoredObject.objects.bulk_create(
            rows, batch_size=2000, update_conflicts=True, unique_fields=["store", "key"],
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
    from .models import DataType

    return dict(DataType.objects.values_list("id", "source_id"))
