"""A scan's staging table shared by several processes (PostgreSQL): the scale-out scan's storage.

    shared_staging_create(scan_id) … shared_staging_copy(scan_id, seq, batches) (one per data file, each
    in its worker's transaction) … shared_staging_replace(scan_id, regions, staged) … shared_staging_drop

A TEMP table belongs to one connection, so a scan whose data files are read by several workers stages
into an ordinary table of its own, `adce_scan_staging_<scan id>`, UNLOGGED (no WAL: it is rebuilt by
scanning again, never recovered). Its rows carry `n` = file number · 2⁴⁰ + row number, so "the later
of two rows for one key wins" means what it means in a sequential scan (manifest order, then row
order) whichever worker committed first. The swap is the sequential scan's own
(reconciliation.engine.inventory.swap_staged), or its bulk load when the inventory is empty.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection, transaction

from reconciliation.engine import copy_binary
from reconciliation.engine.inventory import build_indexes, swap_staged
from reconciliation.engine.inventory_snapshot import snapshots_supersede, touch_log_lock
from reconciliation.engine.inventory_sql import (
    COLUMNS_SQL,
    TABLE,
    Region,
    bulk_indexes,
    inventory_empty,
    staging_columns_sql,
)

_ROW_BITS = 40  # rows per data file below 2⁴⁰: n orders (file, row)


def staging_name(scan_id: int) -> str:
    return f"adce_scan_staging_{int(scan_id)}"


def shared_staging_create(scan_id: int) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {staging_name(scan_id)}")
        cur.execute(f"CREATE UNLOGGED TABLE {staging_name(scan_id)} ({staging_columns_sql()}, n bigint NOT NULL)")


def shared_staging_drop(scan_id: int) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {staging_name(scan_id)}")


def shared_staging_copy(scan_id: int, seq: int, batches: Iterable[pa.RecordBatch]) -> int:
    """COPY the STAGING_SCHEMA batches of data file number `seq`; returns the rows copied. Run it inside
    the caller's transaction: its rows become visible only with the caller's own "file done" mark."""
    rows, first = 0, seq << _ROW_BITS
    # The first batch before the COPY holds the connection: producing it may query the database.
    batches = iter(batches)
    head = next(batches, None)
    if head is None:
        return 0
    batches = itertools.chain([head], batches)
    cur = connection.cursor().cursor  # the psycopg 3 cursor under Django's wrapper
    with copy_binary.binary_copy(cur, staging_name(scan_id), f"{COLUMNS_SQL}, n") as copy:
        for batch in batches:
            if not batch.num_rows:
                continue
            ones = pa.repeat(pa.scalar(1, pa.int64()), batch.num_rows)
            order = pc.cumulative_sum(ones, start=pa.scalar(first + rows - 1, pa.int64()))
            copy.write(copy_binary.encode_rows(batch.append_column("n", order)))
            rows += batch.num_rows
    return rows


def shared_staging_replace(scan_id: int, regions: Sequence[Region], staged: int, *, on_swapped=None) -> dict:
    """Make the staged rows the inventory of `regions` in one transaction (`on_swapped(counts)` inside it), as
    InventoryStaging.replace does; an empty inventory is bulk-loaded (indexes dropped and built once)."""
    name = staging_name(scan_id)
    with transaction.atomic(), connection.cursor() as cur:
        touch_log_lock(cur)  # before the table: writers log their key first, then write it
        # Taken before looking, so no concurrent scan can fill the table in between.
        cur.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        if inventory_empty(cur):
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
            unique, indexes = bulk_indexes()
            for drop, _create in unique + indexes:
                cur.execute(drop)
            cur.execute(f"INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT {COLUMNS_SQL} FROM {name}")
            duplicates = build_indexes(cur, lambda c: _dedupe_by_order(c, name))
            snapshots_supersede(regions)  # a parallel scan writes no snapshot: the store's last one is stale
            swap = {"deleted": 0, "written": staged - duplicates, "unchanged": 0, "staged": staged, "bulk_load": True}
            if on_swapped is not None:
                on_swapped(swap)
            return swap
    return swap_staged(regions, staged, staging=name, on_swapped=on_swapped)


def _dedupe_by_order(cur, name: str) -> int:
    """A key staged twice: load again keeping each key's later row (rows were inserted unordered, so the
    ids do not tell which came later; `n` does)."""
    cur.execute(f"DELETE FROM {TABLE}")
    loaded = max(cur.rowcount, 0)
    cur.execute(f"INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT DISTINCT ON (store, key) {COLUMNS_SQL} FROM {name} "
                "ORDER BY store, key, n DESC")
    return loaded - max(cur.rowcount, 0)
