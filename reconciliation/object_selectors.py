"""Reads of the object inventory, whichever holds a store: StoredObject rows, or files
(ADCE_OBJECT_STORE=files; reconciliation.engine.object_files). Every reader of the inventory outside the
scans' writers and reconcile goes through here.

Each read states which objects it wants once, as a Where (reconciliation.domain.object_query); the stores
held in files answer it through DuckDB (reconciliation.engine.object_reads, over the overlay rule's view),
the others through the ORM (`where_q` below), in one database snapshot.

    object_at(store, key) -> dict | None                       # the gap page's expected keys
    keys_under(store, prefix) -> iterator of keys               # verification's region listing
    partition_objects(data_type_id, partitions) -> [(data_type_id, partition, key, size, last_modified)]
    object_partitions(store, keys) -> {(data_type_id, partition)}   # what deleting these keys touches
    objects_page(where, after=, limit=) -> [dict]               # the admin's browser, keyset by (store, key)
    objects_rows(where, columns) -> iterator of tuples          # its exports
    search_where(term) -> Where                                 # an operator's search term
"""
from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterable, Iterator, Sequence

from django.db.models import Q

from reconciliation.domain.object_query import COLUMNS, EVERY, Cond, Where, both, stores_named, where_of
from reconciliation.domain.object_query import search_where as _search_where


def _condwhere_q(cond: Cond) -> Q:
    if cond.op == "eq":
        return Q(**{f"{cond.column}__isnull": True}) if cond.value is None else Q(**{cond.column: cond.value})
    if cond.op == "prefix":
        return Q(**{f"{cond.column}__startswith": cond.value})
    return Q(**{f"{cond.column}__in": list(cond.value)})


def where_q(where: Where) -> Q:
    """The ORM's form of a Where (engine.object_reads.where_sql is DuckDB's)."""
    if not where:
        return Q(pk__in=[])
    if not all(where):  # an empty alternative takes everything (Django drops an empty Q from an OR)
        return Q()
    result = None
    for conj in where:
        part = Q()
        for cond in conj:
            part &= _condwhere_q(cond)
        result = part if result is None else result | part
    return result


def _held(where: Where) -> set[str]:
    """The stores held in files that `where` may take objects from."""
    from reconciliation.engine.object_files import file_inventories

    return set(file_inventories(stores_named(where)))


@contextlib.contextmanager
def _reading(where: Where) -> Iterator[set[str]]:
    """One database snapshot for the held stores' records and the rows read (a swap committing meanwhile
    is seen entirely or not at all)."""
    from reconciliation.engine.have import have_snapshot

    with have_snapshot():
        yield _held(where)


def _rows_qs(where: Where, held: set[str]):
    from reconciliation.models import StoredObject

    return StoredObject.objects.filter(where_q(where)).exclude(store__in=sorted(held))


def _afterwhere_q(after: tuple[str, str]) -> Q:
    return Q(store__gt=after[0]) | Q(store=after[0], key__gt=after[1])


def _read(where: Where, columns: Sequence[str], *, after: tuple[str, str] | None = None,
          limit: int | None = None) -> list[tuple]:
    """Every object `where` takes (both paths), ordered by (store, key); at most `limit` after `after`."""
    from reconciliation.engine.object_reads import files_rows

    with _reading(where) as held:
        qs = _rows_qs(where, held)
        if after is not None:
            qs = qs.filter(_afterwhere_q(after))
        qs = qs.order_by("store", "key").values_list(*columns)
        rows = list(qs[:limit] if limit is not None else qs.iterator(chunk_size=10_000))
        files = list(files_rows(where, held, columns, after=after, limit=limit)) if held else []
    if not files:
        return rows
    at_store, at_key = columns.index("store"), columns.index("key")
    merged = heapq.merge(rows, files, key=lambda r: (r[at_store], r[at_key]))
    return list(merged)[:limit] if limit is not None else list(merged)


# --------------------------------------------------------------------------------------- the reads

def object_at(store: str, key: str) -> dict | None:
    """The object at (store, key), as {column: value}, or None when the inventory holds none there."""
    rows = _read(where_of(Cond("store", "eq", store), Cond("key", "eq", key)), COLUMNS, limit=1)
    return dict(zip(COLUMNS, rows[0])) if rows else None


def keys_under(store: str, prefix: str) -> list[str]:
    """The keys of `store` starting with `prefix`, in key order."""
    where = where_of(Cond("store", "eq", store), Cond("key", "prefix", prefix))
    return [key for _store, key in _read(where, ("store", "key"))]


PARTITION_COLUMNS = ("data_type_id", "partition", "key", "size", "last_modified")


def partition_objects(data_type_id: int, partitions: Iterable[str]) -> list[tuple]:
    """The objects matched to these partitions of one data type, every store, as
    (data_type_id, partition, key, size, last_modified) — the rows engine.have.have_from_rows reads."""
    where = where_of(Cond("data_type_id", "eq", data_type_id), Cond("partition", "in", tuple(partitions)))
    rows = _read(where, ("store",) + PARTITION_COLUMNS)
    return [row[1:] for row in rows]


def object_partitions(store: str, keys: Iterable[str]) -> set[tuple[int, str]]:
    """The (data_type_id, partition) pairs of the objects at these keys of `store` (matched ones only):
    what removing them touches. For a store held in files an object may be in its files only: read
    through the overlay, before the removal is logged."""
    where = where_of(Cond("store", "eq", store), Cond("key", "in", tuple(keys)))
    return {(d, p) for _s, _k, d, p in _read(where, ("store", "key", "data_type_id", "partition")) if d is not None}


def objects_page(where: Where = EVERY, *, after: tuple[str, str] | None = None, limit: int = 100) -> list[dict]:
    """One page of the objects `where` takes, ordered by (store, key), after the (store, key) `after`."""
    return [dict(zip(COLUMNS, row)) for row in _read(where, COLUMNS, after=after, limit=limit)]


def objects_count_over(where: Where, cap: int) -> bool:
    """Does `where` take more than `cap` objects (reads at most cap + 1 of them)."""
    return len(_read(where, ("store", "key"), limit=cap + 1)) > cap


def objects_rows(where: Where = EVERY, columns: Sequence[str] = COLUMNS) -> Iterator[tuple]:
    """Every object `where` takes, streamed in (store, key) order: the stores held in rows (in chunks) merged
    with those held in files (through DuckDB) as they come. Memory stays flat whatever the size."""
    from reconciliation.engine.object_reads import files_rows

    held = _held(where)
    cols = list(columns) + [c for c in ("store", "key") if c not in columns]
    rows = _rows_qs(where, held).order_by("store", "key").values_list(*cols).iterator(chunk_size=2000)
    files = files_rows(where, held, cols) if held else iter(())
    at_store, at_key = cols.index("store"), cols.index("key")
    for row in heapq.merge(rows, files, key=lambda r: (r[at_store], r[at_key])):
        yield row[:len(columns)]


def search_where(term: str) -> Where:
    """The objects an operator's search term finds (reconciliation.domain.object_query.search_prefixes),
    under any source's location."""
    from reconciliation.models import Source
    from reconciliation.storage.locations import LocationError, parse_location

    locations = []
    for uri in set(Source.objects.values_list("location", flat=True)):
        try:
            location = parse_location(uri)
        except LocationError:
            continue  # an unparseable location cannot hold stored objects
        locations.append((location.store, location.prefix))
    return _search_where(term, locations)


def with_source(where: Where, source_id: int | None) -> Where:
    return where if source_id is None else both(where, where_of(Cond("source_id", "eq", source_id)))
