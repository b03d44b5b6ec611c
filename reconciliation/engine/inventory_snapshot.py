"""The inventory snapshot: a rescan that writes only what changed, without staging every row (issue 23 item 3).

A complete sequential scan writes the rows it makes a store's inventory (the very batches it stages) to a
Parquet file, one per store, and records it (InventorySnapshot) inside its swap's transaction. The next
scan of exactly the same regions of that store streams its rows into a new file instead of staging them,
then DuckDB (in process, memory capped, spilling to disk) joins the two files and keeps only the new or
changed rows and the vanished keys; those alone are staged and applied, in one transaction. Rows written
equal the changes, and the scan costs about a read of the report plus a columnar join.

The database must still hold exactly what the snapshot says. Three things keep it so:

* Any other swap of the store (a parallel scan, a scan of other regions, a bulk load) deletes the
  store's snapshot in its own transaction (`snapshots_supersede`): a snapshot is only ever the last swap.
* Writes between scans (S3 events, verification) log the keys they touch (InventoryTouch, `touches_log`)
  in the same transaction as the write. A rescan re-applies the report to the keys touched after the
  snapshot's `touch_mark`, comparing them with the database itself, as the staged diff would.
* On PostgreSQL a swap locks the touch log before it writes (`touch_log_lock`): a writer's log row
  and its write then commit entirely before the swap or entirely after its mark (ids are handed out
  before commit, so without the lock a smaller id could still commit after the mark is read).

Anything uncertain (no snapshot, other regions, file missing, unreadable or of another schema, an empty
inventory) falls back to the staged swap of reconciliation.engine.inventory, unchanged.
DuckDB stays here, in the machinery: nothing else imports it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction

from reconciliation.engine.inventory_sql import (
    STAGING_SCHEMA,
    TABLE,
    Region,
    delete_keys,
    upsert_changed,
)
from adce_site.choices import RunStatus
from reconciliation.domain.snapshot_files import Entry, entries_orphaned
from reconciliation.models import InventorySnapshot, InventoryTouch, ScanRun

logger = logging.getLogger("adce.scan")
SNAPSHOT_VERSION = b"1"  # bump when the file's columns or meaning change: older files are then ignored
_VERSION_KEY = b"adce.inventory_snapshot"
SNAPSHOT_SCHEMA = STAGING_SCHEMA.with_metadata({_VERSION_KEY: SNAPSHOT_VERSION})
# What makes a stored row differ from a report's row: inventory_sql._same_row's columns.
COMPARED = ("size", "last_modified", "etag", "partition", "data_type_id", "source_id")
_NULLABLE = ("data_type_id", "source_id")
_BATCH_ROWS = 65_536
_DELETE_CHUNK = 5_000


def snapshots_enabled() -> bool:
    return bool(settings.ADCE_INVENTORY_SNAPSHOTS)


def snapshot_dir() -> Path:
    return Path(settings.ADCE_INVENTORY_SNAPSHOT_DIR)


def _store_dir(store: str) -> Path:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", store).strip("_")[:80]
    return snapshot_dir() / f"{readable}-{hashlib.sha1(store.encode()).hexdigest()[:10]}"


def regions_json(regions: Iterable[Region]) -> list[list[str]]:
    return sorted([r.store, r.prefix] for r in regions)


# ------------------------------------------------------------------------------------------- writing

class SnapshotWriter:
    """A scan's batches into one Parquet file per store, streamed (one row group per batch in memory).

    `close(regions)` finishes them (a store of the regions that got no row gets an empty file: its
    inventory is empty, which is a valid snapshot too); `discard()` removes them (a failed scan)."""

    def __init__(self, scan_id: int, part: int | None = None):
        self.scan_id = scan_id
        # a parallel scan's data file: one file per task (reconciliation.services.scan_parallel)
        self.name = f"scan-{scan_id}.parquet" if part is None else f"scan-{scan_id}-part-{part}.parquet"
        self.files: dict[str, tuple[Path, pq.ParquetWriter | None, int]] = {}

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        store = batch.column(0)[0].as_py()  # a scan's batch holds one target's rows: one store
        path, writer, rows = self.files.get(store) or (None, None, 0)
        if writer is None:
            path, writer = self._open(store)
        writer.write_batch(batch.replace_schema_metadata(SNAPSHOT_SCHEMA.metadata))
        self.files[store] = (path, writer, rows + batch.num_rows)

    def _open(self, store: str):
        folder = _store_dir(store)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.name
        # Snappy: a third of the CPU of zstd for files read once, by the next scan; dictionaries only
        # where values repeat (the keys never do).
        writer = pq.ParquetWriter(path, SNAPSHOT_SCHEMA, compression="snappy",
                                  use_dictionary=["store", "partition", "source_id", "data_type_id", "scan_id"])
        return path, writer

    def close(self, regions: Sequence[Region]) -> None:
        for store in {r.store for r in regions}:
            if store not in self.files:
                path, writer = self._open(store)
                self.files[store] = (path, writer, 0)
        for store, (path, writer, rows) in list(self.files.items()):
            if writer is not None:
                writer.close()
            self.files[store] = (path, None, rows)

    def discard(self) -> None:
        for path, writer, _rows in self.files.values():
            try:
                if writer is not None:
                    writer.close()
            except Exception:  # a writer broken by the very error we are unwinding
                pass
            _unlink([path])
        self.files.clear()

    @property
    def rows(self) -> int:
        """Rows written: the scan's rows, a key listed twice counted twice (as `staged` counts them)."""
        return sum(rows for _p, _w, rows in self.files.values())

    def counts(self) -> dict[str, int]:
        return {store: rows for store, (_p, _w, rows) in self.files.items()}

    def paths(self) -> dict[str, Path]:
        return {store: path for store, (path, _w, _r) in self.files.items()}

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        """The written rows again (the staged fallback of a rescan that streamed into the files only)."""
        for path, _writer, _rows in self.files.values():
            yield from pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS)

    def record(self, regions: Sequence[Region], unique: dict[str, bool] | None = None) -> None:
        """Inside the swap's transaction, after `snapshots_supersede`: these files are now the snapshots
        of their stores, up to the touch log's current mark. Prunes the log rows no snapshot needs."""
        mark = InventoryTouch.objects.order_by("-id").values_list("id", flat=True).first() or 0
        for store, (path, _writer, rows) in self.files.items():
            InventorySnapshot.objects.update_or_create(store=store, defaults={
                "regions": regions_json(r for r in regions if r.store == store), "scan_id": self.scan_id,
                "path": str(path), "rows": rows, "unique_keys": (unique or {}).get(store), "touch_mark": mark})
        touches_prune()


def scan_part_files_remove(scan_id: int) -> None:
    """A failed parallel scan in files mode: every data file's Parquet file of it, on any host (the
    folder is shared), goes."""
    _unlink(snapshot_dir().glob(f"*/scan-{scan_id}-part-*.parquet"))


def snapshot_files_sweep() -> dict[str, int]:
    """Delete what reconciliation.domain.snapshot_files judges orphaned in the snapshot folder (on any host:
    the folder is shared). Its facts are read in the order that rule needs — the folder, then the running
    scans, then the snapshot records — so a scan that completes meanwhile is running in the first read or
    recorded in the second. Call it after the stale-run sweep (a crashed scan is then no longer running).
    Returns {"entries": deleted, "bytes": freed}."""
    root = snapshot_dir()
    if not root.is_dir():
        return {"entries": 0, "bytes": 0}
    candidates = []
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith("duckdb-tmp-"):  # a store's folder: judge its files
            candidates += [c for c in child.iterdir() if c.is_file()]
        else:
            candidates.append(child)
    now, entries, sizes = time.time(), [], {}
    for path in candidates:
        stats = [st for st in map(_stat, [path, *_tree(path)]) if st is not None]
        if not stats:  # gone while we looked: removed by its owner
            continue
        key = os.path.realpath(path)
        sizes[key] = sum(st.st_size for st in stats if not stat.S_ISDIR(st.st_mode))
        entries.append(Entry(key, path.name, now - max(st.st_mtime for st in stats)))
    running = set(ScanRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True))
    referenced = {os.path.realpath(p) for snap in InventorySnapshot.objects.all() for p in (*snap.files(), *snap.retired)}
    freed = deleted = 0
    for entry in entries_orphaned(entries, referenced=referenced, running_scans=running):
        if os.path.isdir(entry.path):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            _unlink([entry.path])
        deleted, freed = deleted + 1, freed + sizes.get(entry.path, 0)
        logger.warning("snapshot folder: removed %s, left by a run that did not finish", entry.path)
    return {"entries": deleted, "bytes": freed}


def _tree(path: Path) -> list[Path]:
    """Everything under a folder (nothing for a file); what vanishes meanwhile is skipped (os.walk's way)."""
    return [Path(top) / name for top, dirs, files in os.walk(path) for name in (*dirs, *files)]


def _stat(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _unlink(paths) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# ------------------------------------------------------------------------------------------- the swap's side

def touch_log_lock(cur) -> None:
    """PostgreSQL: hold off writers of the touch log until this swap commits (module docstring).
    SQLite has one writer: nothing to do."""
    if connection.vendor == "postgresql":
        cur.execute(f"LOCK TABLE {InventoryTouch._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def snapshots_supersede(regions: Sequence[Region]) -> None:
    """A swap of these regions' stores: their snapshots no longer say what the database holds. Delete the
    rows now (in the swap's transaction) and the files once it commits."""
    from reconciliation.engine.object_files import FilesHeld, files_outside_refusal

    stores = {r.store for r in regions}
    # A store held in files (the operator switched back to rows): its files go too, so nothing they hold
    # may lie outside the regions. Checked here, in every rows-mode swap's transaction, whatever checked before.
    refusal = files_outside_refusal(regions)
    if refusal:
        raise FilesHeld(refusal)
    gone = [path for snap in InventorySnapshot.objects.filter(store__in=stores) for path in (*snap.files(), *snap.retired)]
    if gone:
        InventorySnapshot.objects.filter(store__in=stores).delete()
        transaction.on_commit(lambda: _unlink(gone))


def touches_log(store: str, keys: Iterable[str]) -> None:
    """Log keys written outside a scan, before writing them (the caller's transaction)."""
    InventoryTouch.objects.bulk_create([InventoryTouch(store=store, key=k) for k in keys], batch_size=2000)


def touches_prune() -> None:
    """Touches at or below their store's snapshot mark, or of a store without a snapshot, are read by no
    rescan (a new snapshot takes the log's mark at its swap)."""
    marks = dict(InventorySnapshot.objects.values_list("store", "touch_mark"))
    InventoryTouch.objects.exclude(store__in=list(marks)).delete()
    for store, mark in marks.items():
        InventoryTouch.objects.filter(store=store, id__lte=mark).delete()


def touched_since(store: str, mark: int) -> Iterator[str]:
    """The keys of `store` written outside a scan after the touch log's `mark` (each once)."""
    return (InventoryTouch.objects.filter(store=store, id__gt=mark)
            .values_list("key", flat=True).distinct().iterator())


def _touched(snapshots: dict[str, InventorySnapshot], regions: Sequence[Region]) -> set[tuple[str, str]]:
    keys = set()
    for store, snap in snapshots.items():
        prefixes = [r.prefix for r in regions if r.store == store]
        for key in touched_since(store, snap.touch_mark):
            if any(key.startswith(p) for p in prefixes):
                keys.add((store, key))
    return keys


# ------------------------------------------------------------------------------------------- the rescan

def snapshot_candidates(stores: Iterable[str]) -> dict[str, InventorySnapshot]:
    """The stores' recorded snapshots whose files exist (a scan that finds one streams into files only)."""
    # a store held in files has no mirror: its rows are only those written since (object_files)
    found = {s.store: s for s in InventorySnapshot.objects.filter(store__in=set(stores), holds_objects=False)}
    return {store: s for store, s in found.items() if os.path.isfile(s.path)}


def snapshot_refusal(snapshots: dict[str, InventorySnapshot], regions: Sequence[Region]) -> str | None:
    """Why these snapshots cannot stand for the inventory of `regions` (None: they can)."""
    stores = {r.store for r in regions}
    if set(snapshots) != stores:
        return "no snapshot of " + ", ".join(sorted(stores - set(snapshots)))
    for store, snap in snapshots.items():
        if snap.regions != regions_json(r for r in regions if r.store == store):
            return f"the snapshot of {store} covers other regions"
        try:
            meta = pq.read_metadata(snap.path)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            return f"the snapshot of {store} is unreadable: {exc}"
        if (schema.metadata or {}).get(_VERSION_KEY) != SNAPSHOT_VERSION or not schema.equals(STAGING_SCHEMA):
            return f"the snapshot of {store} is of another version"
        if meta.num_rows != snap.rows:
            return f"the snapshot of {store} holds {meta.num_rows} rows, not {snap.rows}"
    # An inventory emptied behind the snapshot's back (a flush, a test) is loaded afresh.
    with connection.cursor() as cur:
        cur.execute(f'SELECT 1 FROM {TABLE} WHERE "store" IN ({", ".join(["%s"] * len(stores))}) LIMIT 1',
                    sorted(stores))
        if cur.fetchone() is None:
            return "the inventory is empty"
    return None


_UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30, "b": 1}


def _rows_per_pass(limit: str) -> int:
    """Keys one join pass may hold under DuckDB's memory limit `limit` ("100MB"): 5M at 100 MB, measured
    (10M failed at 100 MB, passed at 150 MB)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", limit)
    size = float(match.group(1)) * _UNITS.get(match.group(2).lower() or "b", 1) if match else 100e6
    return max(100_000, int(size / 20))


def _literal(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def duckdb_connect(tmp: Path):
    """An in-process DuckDB as every use here wants it: memory capped by ADCE_SNAPSHOT_DIFF_MEMORY, spilling
    to `tmp` beside the files, 2 threads, UTC (timestamps compare as the database's do)."""
    import duckdb  # here only: a scan that never diffs or reads files never loads it

    con = duckdb.connect()
    for statement in (f"SET memory_limit = {_literal(settings.ADCE_SNAPSHOT_DIFF_MEMORY)}",
                      f"SET temp_directory = {_literal(tmp)}", "SET threads = 2",
                      "SET preserve_insertion_order = false", "SET TimeZone = 'UTC'"):
        con.execute(statement)
    return con


def keys_unique(con, paths: Sequence, passes: int | None = None) -> bool:
    """No key twice in these files (together), by DuckDB `con`. A 64-bit hash per key: two keys may
    share one (then the exact, slower dedupe runs for nothing), a repeated key never hides. In key-hash
    passes (as many as the memory cap needs for the files' rows, unless given): the group-by holds a
    pass's hashes, and all 30M at once ran out of memory under the 100 MB cap."""
    if not paths:
        return True
    files = "[" + ", ".join(_literal(p) for p in paths) + "]"
    if passes is None:
        rows = sum(pq.read_metadata(p).num_rows for p in paths)
        passes = max(1, -(-rows // _rows_per_pass(settings.ADCE_SNAPSHOT_DIFF_MEMORY)))
    for n in range(passes):
        part = f"WHERE hash(key) % {passes} = {n}" if passes > 1 else ""
        sql = (f"SELECT count(*) FROM (SELECT hash(key) FROM read_parquet({files}) {part} "
               "GROUP BY 1 HAVING count(*) > 1)")
        if con.execute(sql).fetchall()[0][0]:
            return False
    return True


class SnapshotDiff:
    """DuckDB's diff of the previous and the new snapshot files of each store (module docstring).

    `run()` materialises the differing rows in a table of the in-memory database (spilled past the memory cap) and
    returns (new or changed rows, vanished keys); then `changed_batches()` and `vanished_keys()`
    stream them. Use as a context manager: the connection and its temp folder go at the end."""

    def __init__(self, pairs: dict[str, tuple[str, Path]], unique: dict[str, bool | None], scan_id: int):
        import duckdb  # here only: a scan that never diffs never loads it

        self.pairs, self.known_unique = pairs, unique
        self.unique: dict[str, bool] = {}
        self.passes, self.retries = 0, 0
        self.tmp = snapshot_dir() / f"duckdb-tmp-{scan_id}"
        self.con = duckdb_connect(self.tmp)
        self.error, self.out_of_memory = duckdb.Error, duckdb.OutOfMemoryException

    def __enter__(self) -> SnapshotDiff:
        return self

    def __exit__(self, *exc) -> bool:
        self.con.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def _keys_unique(self, path, passes: int) -> bool:
        return keys_unique(self.con, [path], passes)

    def _rows(self, path, unique: bool, columns: str, part: str) -> str:
        """The file's rows of one key partition, the later of two for one key only (the swap's rule: the
        later row wins)."""
        if unique:
            return f"(SELECT {columns} FROM read_parquet({_literal(path)}) WHERE {part})"
        return (f"(SELECT {columns} FROM read_parquet({_literal(path)}, file_row_number = true) WHERE {part} "
                f"QUALIFY row_number() OVER (PARTITION BY key ORDER BY file_row_number DESC) = 1)")

    def run(self) -> tuple[int, int]:
        """Diff every store's files into table d; returns (new or changed rows, vanished keys).

        The join's memory grows with the keys of a pass: past what the cap holds, DuckDB's external hash
        join still fails ("failed to pin block"; 10M keys need ~150 MB). So the keys are split by a hash
        into as many passes as the cap needs (each pass re-reads both files), and a pass that still runs
        out of memory is retried with twice as many."""
        rows = max(pq.read_metadata(path).num_rows for pair in self.pairs.values() for path in pair)
        passes = max(1, -(-rows // _rows_per_pass(settings.ADCE_SNAPSHOT_DIFF_MEMORY)))
        while True:
            try:
                for store, (old, new) in self.pairs.items():
                    if self.known_unique.get(store) is None:
                        self.known_unique[store] = self._keys_unique(old, passes)
                    if store not in self.unique:
                        self.unique[store] = self._keys_unique(new, passes)
                self._join(passes)
                break
            except self.out_of_memory:
                if passes >= 256:
                    raise
                logger.info("snapshot diff: out of memory in %d passes; again in %d", passes, passes * 2)
                self.retries += 1
                passes *= 2
        self.passes = passes
        [(changed, vanished)] = self.con.execute("SELECT count(key), count(*) - count(key) FROM d").fetchall()
        return changed, vanished

    def _join(self, passes: int) -> None:
        same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM o.{c}" if c in _NULLABLE else f"n.{c} = o.{c}" for c in COMPARED)
        names = ", ".join(f"n.{c}" for c in STAGING_SCHEMA.names)
        self.con.execute("DROP TABLE IF EXISTS d")
        for n in range(passes):
            part = f"hash(key) % {passes} = {n}" if passes > 1 else "true"
            parts = []
            for store, (old, new) in self.pairs.items():
                new_rows = self._rows(new, self.unique[store], ", ".join(STAGING_SCHEMA.names), part)
                old_rows = self._rows(old, self.known_unique[store], "key, " + ", ".join(COMPARED), part)
                # One hash join: the new file probes the old one's key and compared columns (no store: one
                # file holds one store). Differing rows only: new, changed (both sides), vanished (old only).
                parts.append(f"SELECT {names}, o.key AS old_key, {_literal(store)} AS old_store FROM {new_rows} n "
                             f"FULL JOIN {old_rows} o ON n.key = o.key "
                             f"WHERE n.key IS NULL OR o.key IS NULL OR NOT ({same})")
            self.con.execute(("CREATE TABLE d AS " if n == 0 else "INSERT INTO d ") + " UNION ALL ".join(parts))

    def changed_batches(self) -> Iterator[pa.RecordBatch]:
        names = ", ".join(STAGING_SCHEMA.names)
        reader = _arrow_reader(self.con.cursor().sql(f"SELECT {names} FROM d WHERE key IS NOT NULL"), _BATCH_ROWS)
        for batch in reader:
            yield batch.cast(STAGING_SCHEMA)

    def vanished_keys(self) -> Iterator[tuple[str, list[str]]]:
        """(store, keys) chunks of the keys in the old file and not in the new one."""
        reader = _arrow_reader(self.con.cursor().sql("SELECT old_store, old_key FROM d WHERE key IS NULL "
                                                     "ORDER BY old_store, old_key"), _DELETE_CHUNK)
        for batch in reader:
            stores, keys = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for store in dict.fromkeys(stores):
                yield store, [k for s, k in zip(stores, keys) if s == store]

    def new_rows(self, keys: set[tuple[str, str]]) -> pa.Table:
        """The new files' rows (the later one of a key) of `keys`: the touched keys' truth."""
        tables = []
        for store, (_old, new) in self.pairs.items():
            wanted = pa.table({"key": [k for s, k in keys if s == store]})
            if not wanted.num_rows:
                continue
            self.con.register("wanted", wanted)
            try:
                sql = (f"SELECT {', '.join(STAGING_SCHEMA.names)} FROM read_parquet({_literal(new)}, file_row_number = true) "
                       "WHERE key IN (SELECT key FROM wanted) "
                       "QUALIFY row_number() OVER (PARTITION BY key ORDER BY file_row_number DESC) = 1")
                relation = self.con.sql(sql)
                table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.fetch_arrow_table()
                tables.append(table.cast(STAGING_SCHEMA))
            finally:
                self.con.unregister("wanted")
        return pa.concat_tables(tables) if tables else STAGING_SCHEMA.empty_table()


def _arrow_reader(relation, rows: int) -> pa.RecordBatchReader:
    """A relation's rows as Arrow batches (DuckDB 2 renamed the call)."""
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(rows)
    return relation.fetch_record_batch(rows)


class SnapshotSuperseded(Exception):
    """Another scan swapped the store after this rescan read its snapshot: the diff is against the wrong rows."""


def snapshots_still_current(snapshots: dict[str, InventorySnapshot]) -> None:
    """Raise SnapshotSuperseded unless `snapshots` are still their stores' recorded snapshots.

    A rescan picks its snapshot when it starts and applies its diff minutes later; a scan of the same
    store that swapped in between (nothing stops two scans of one store) left the database holding
    *its* rows, and a diff against the older file would keep them wherever this report agrees with that
    file. Called inside the apply's transaction after the touch log's lock, which every swap on
    PostgreSQL takes first, so no swap can commit between this check and the apply; SQLite has one writer."""
    wanted = {store: (snap.pk, snap.scan_id, snap.path) for store, snap in snapshots.items()}
    current = {s.store: (s.pk, s.scan_id, s.path)
               for s in InventorySnapshot.objects.select_for_update().filter(store__in=list(wanted))}
    if current != wanted:
        raise SnapshotSuperseded("another scan swapped " + ", ".join(sorted(
            store for store in wanted if current.get(store) != wanted[store])) + " since this scan began")


def snapshot_apply(staging, diff: SnapshotDiff, snapshots: dict[str, InventorySnapshot], regions: Sequence[Region],
                   staged: int, *, on_swapped=None) -> dict:
    """Apply a rescan's diff in one transaction: `staging` (an InventoryStaging, not a bulk load) holds
    the new or changed rows; vanished keys are deleted; keys touched since the snapshot get the new
    report's row (or none) whatever the old file said. Counts as InventoryStaging.replace's."""
    vendor = connection.vendor
    # The apply probes the staged rows by key (touched keys, a later row of a key): indexed, not scanned
    # once per row.
    staging.index()
    with transaction.atomic(), connection.cursor() as cur:
        touch_log_lock(cur)
        snapshots_still_current(snapshots)
        snapshots_supersede(regions)
        touched = _touched(snapshots, regions)
        deleted = 0
        if touched:
            for store in {s for s, _k in touched}:
                keys = [k for s, k in touched if s == store]
                delete_keys(cur, vendor, store, keys, table=staging.table)
            truth = diff.new_rows(touched)
            for batch in truth.to_batches(_BATCH_ROWS):
                staging.add_batch(batch, count=False)
            staging.flush()
            present = set(zip(truth.column("store").to_pylist(), truth.column("key").to_pylist()))
            for store in {s for s, _k in touched}:
                deleted += delete_keys(cur, vendor, store, [k for s, k in touched - present if s == store])
        if vendor == "postgresql" and touched:
            # A few staged rows: each probes the inventory's unique index (the nested loop swap_staged
            # forbids for a whole report is the right plan here), if the planner knows they are few.
            cur.execute(f"ANALYZE {staging.table}")
        written = upsert_changed(cur, vendor, staging.table)
        for store, keys in diff.vanished_keys():
            deleted += delete_keys(cur, vendor, store, [k for k in keys if (store, k) not in touched])
        swap = {"deleted": deleted, "written": written, "unchanged": max(staged - written, 0), "staged": staged,
                "diff": "snapshot"}
        if on_swapped is not None:
            on_swapped(swap)
    return swap
