"""The inventory table in SQL: the staged rows' columns, regions, and the statements of the swap.

The columns a scan stages (STAGING_COLUMNS / STAGING_SCHEMA), the Region a complete scan replaces, and
the statements that make staged rows the inventory: the diff (upsert what changed, delete what vanished),
the plain insert into empty regions, the bulk load's index drop and rebuild, ANALYZE. Apart from
InventoryStaging (reconciliation.engine.inventory), which decides when each runs and holds the
transaction, so that every statement touching the table and its PostgreSQL / SQLite variants is in
one place.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from django.db import IntegrityError, connection, transaction

from reconciliation.models import StoredObject

TABLE = StoredObject._meta.db_table
STAGING = "adce_inventory_staging"
# (store, key, size, last_modified, etag, source_id, data_type_id, partition, scan_id)
STAGING_COLUMNS = ("store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition", "scan_id")
STAGING_SCHEMA = pa.schema([
    ("store", pa.string()), ("key", pa.string()), ("size", pa.int64()),
    ("last_modified", pa.timestamp("us", tz="UTC")), ("etag", pa.string()), ("source_id", pa.int64()),
    ("data_type_id", pa.int64()), ("partition", pa.string()), ("scan_id", pa.int64()),
])
COLUMNS_SQL = ", ".join(f'"{c}"' for c in STAGING_COLUMNS)


@dataclass(frozen=True)
class Region:
    """The part of a store a complete scan saw entirely: every key of `store` starting with `prefix`."""

    store: str
    prefix: str


def staging_columns_sql() -> str:
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


def inventory_empty(cur) -> bool:
    cur.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
    return cur.fetchone() is None


def bulk_indexes():
    """(drop, create) SQL of the unique (store, key) constraint and the secondary indexes, from the
    model's own declarations (so they come back exactly as the migrations made them)."""
    editor = connection.schema_editor()
    editor.deferred_sql = []  # only SQL text is asked of it; it is never entered (that would commit)
    meta = StoredObject._meta
    unique = [(str(c.remove_sql(StoredObject, editor)), str(c.create_sql(StoredObject, editor))) for c in meta.constraints]
    indexes = [(str(i.remove_sql(StoredObject, editor)), str(i.create_sql(StoredObject, editor))) for i in meta.indexes]
    return unique, indexes


def analyse_after(changed: int) -> None:
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


def region_has_rows(cur, region: Region) -> bool:
    cond, params = _region_sql(region, connection.vendor)
    cur.execute(f"SELECT 1 FROM {TABLE} WHERE {cond} LIMIT 1", params)
    return cur.fetchone() is not None


def delete_vanished(cur, region: Region, vendor: str, staging: str = STAGING) -> int:
    """Delete the rows of `region` that were not staged; run after the upsert, which left every staged
    key of the region in the table."""
    if vendor == "sqlite" and _none_vanished(cur, region, staging):
        return 0
    cond, params = _region_sql(region, vendor, f"{TABLE}.")
    cur.execute(
        f"DELETE FROM {TABLE} WHERE {cond} AND NOT EXISTS (SELECT 1 FROM {staging} s "
        f'WHERE s."store" = {TABLE}."store" AND s."key" = {TABLE}."key")', params)
    return max(cur.rowcount, 0)


def delete_keys(cur, vendor: str, store: str, keys: list[str], *, table: str = TABLE) -> int:
    """Delete the rows of `keys` in `store` (a rescan's vanished keys: a few, each found by the unique index)."""
    deleted = 0
    for i in range(0, len(keys), 5_000):
        chunk = keys[i:i + 5_000]
        if vendor == "postgresql":
            cur.execute(f'DELETE FROM {table} WHERE "store" = %s AND "key" = ANY(%s)', [store, chunk])
            deleted += max(cur.rowcount, 0)
        else:
            cur.executemany(f'DELETE FROM {table} WHERE "key" = %s AND "store" = %s', [(k, store) for k in chunk])
            deleted += max(cur.rowcount, 0)
    return deleted


def _none_vanished(cur, region: Region, staging: str) -> bool:
    """After the upsert the region holds its stored rows plus every staged key: it holds exactly as many
    rows as distinct keys were staged in it only if no stored row is missing from the staging. Two index
    scans, where the anti-join probes the staging's index once per stored row (SQLite has no hash join):
    a rescan where nothing vanished skips it."""
    cond, params = _region_sql(region, "sqlite")
    cur.execute(f"SELECT count(*) FROM {TABLE} WHERE {cond}", params)
    stored = cur.fetchone()[0]
    cur.execute(f'SELECT count(*) FROM (SELECT DISTINCT "key", "store" FROM {staging} WHERE {cond})', params)
    return stored == cur.fetchone()[0]


def _same_row(vendor: str) -> str:
    """Stored row m holds exactly what staged row s says (same key assumed)."""
    same = "IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"
    return (f'm."size" = s."size" AND m."last_modified" = s."last_modified" AND m."etag" = s."etag" '
            f'AND m."partition" = s."partition" AND m."data_type_id" {same} s."data_type_id" '
            f'AND m."source_id" {same} s."source_id"')


_UPSERT = ' ON CONFLICT ("key", "store") DO UPDATE SET ' + ", ".join(f'"{c}" = excluded."{c}"' for c in STAGING_COLUMNS[2:])


def diff_apply_postgresql(cur, regions, staging: str = STAGING) -> tuple[int, int]:
    """Both diffs of a PostgreSQL rescan in one statement: one hash full join of the staged rows and the
    regions' rows finds the new, changed and vanished ones together, where upsert_changed and
    delete_vanished join them twice (a temp table gets no parallel workers: 3 M rows, 10.5 s for the
    full join against 10.5 + 7.3 s for the two anti-joins). The vanished rows are deleted by id through
    the primary key (an array, not a join: no second scan of the table). Returns (written, deleted)."""
    conds, params = zip(*(_region_sql(r, "postgresql") for r in regions))
    where = " OR ".join(f"({c})" for c in conds)
    cols = ", ".join(f's."{c}"' for c in STAGING_COLUMNS)
    sql = (f'WITH d AS (SELECT {cols}, s."n", m."id" AS gone FROM {staging} s FULL JOIN (SELECT * FROM {TABLE} WHERE {where}) m '
           f'ON m."store" = s."store" AND m."key" = s."key" WHERE m."id" IS NULL OR s."key" IS NULL OR NOT ({_same_row("postgresql")})), '
           f'deleted AS (DELETE FROM {TABLE} WHERE "id" = ANY(ARRAY(SELECT gone FROM d WHERE "key" IS NULL)) RETURNING 1), '
           f'written AS (INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT {COLUMNS_SQL} FROM d WHERE "key" IS NOT NULL '
           f'AND {no_later_row(staging, "d", "postgresql")}{_UPSERT} RETURNING 1) '
           f"SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM deleted)")
    cur.execute(sql, [p for ps in params for p in ps])
    written, deleted = cur.fetchone()
    return written, deleted


def upsert_changed(cur, vendor: str, staging: str = STAGING) -> int:
    changed_only = f'WHERE NOT EXISTS (SELECT 1 FROM {TABLE} m WHERE m."store" = s."store" AND m."key" = s."key" AND {_same_row(vendor)})'
    upsert = _UPSERT
    cols = ", ".join(f's."{c}"' for c in STAGING_COLUMNS)
    cur.execute(f"INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT {cols} FROM {staging} s {changed_only} "
                f"AND {no_later_row(staging, 's', vendor)}{upsert}")
    return max(cur.rowcount, 0)


def no_later_row(staging: str, alias: str, vendor: str) -> str:
    """SQL: the staged row `alias` is its key's last (a key listed twice: the later row wins). Tested
    before comparing with the stored row — after, an earlier row that differs would be written while the
    later one, equal to the stored row, was skipped. One row per key reaches the upsert, so PostgreSQL's
    "cannot affect row a second time" cannot occur. Order: `n` on PostgreSQL (a sequence, or file ·
    2⁴⁰ + row in a scale-out scan), rowid on SQLite; a probe of the staging's (key, store) index."""
    order = '"n"' if vendor == "postgresql" else "rowid"
    return (f'NOT EXISTS (SELECT 1 FROM {staging} t WHERE t."key" = {alias}."key" AND t."store" = {alias}."store" '
            f"AND t.{order} > {alias}.{order})")


def insert_staged(cur, vendor: str, staging: str = STAGING) -> int:
    """Copy the staged rows into regions that hold no row yet. The plain INSERT is the fast path; a key
    staged twice (an inventory report listing it twice) makes it fail, and then the later row wins."""
    try:
        with transaction.atomic():
            cur.execute(f"INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT {COLUMNS_SQL} FROM {staging}")
            return max(cur.rowcount, 0)
    except IntegrityError:
        pass
    if vendor == "postgresql":
        cur.execute(f"INSERT INTO {TABLE} ({COLUMNS_SQL}) SELECT DISTINCT ON (store, key) {COLUMNS_SQL} FROM {staging} "
                    f"ORDER BY store, key, n DESC")
    else:
        cur.execute(f"INSERT OR REPLACE INTO {TABLE} ({COLUMNS_SQL}) SELECT {COLUMNS_SQL} FROM {staging} ORDER BY rowid")
        cur.execute(f'SELECT count(*) FROM (SELECT DISTINCT "store", "key" FROM {staging})')
        return cur.fetchone()[0]
    return max(cur.rowcount, 0)
