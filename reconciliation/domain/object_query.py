"""Which objects a read of the inventory wants, stated once as data (`Where`) that both paths of
reconciliation.object_selectors translate: the ORM for stores held in rows, DuckDB
(reconciliation.engine.object_reads) for stores held in files.

    Cond(column, op, value)      # op: "eq" | "prefix" | "in"
    Where = ((Cond, …), …)       # any of (all of …); ((),) is every object, () none
    both(a, b) -> Where          # a AND b
    search_prefixes(term, locations) -> [(store or None, key prefix), …]   # an operator's search term

Pure: `locations` are the sources' locations already parsed, as (store, key prefix) pairs.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

COLUMNS = ("store", "key", "size", "last_modified", "etag", "source_id", "data_type_id", "partition", "scan_id")
OPS = ("eq", "prefix", "in")


@dataclass(frozen=True)
class Cond:
    """One column's test: equal to `value`, starting with `value` (a str), or in `value` (a tuple)."""

    column: str
    op: str
    value: object

    def __post_init__(self):
        if self.column not in COLUMNS or self.op not in OPS:
            raise ValueError(f"no such condition: {self.column} {self.op}")


Where = tuple[tuple[Cond, ...], ...]
EVERY: Where = ((),)


def both(a: Where, b: Where) -> Where:
    """The objects `a` and `b` both take (the conjunctions' cross product)."""
    return tuple(x + y for x in a for y in b)


def where_of(*conds: Cond) -> Where:
    return (tuple(conds),)


def stores_named(where: Where) -> set[str] | None:
    """The stores a Where can take objects from, or None when some alternative names no store."""
    stores: set[str] = set()
    for conj in where:
        named = [c for c in conj if c.column == "store" and c.op in ("eq", "in")]
        if not named:
            return None
        c = named[0]
        stores.update([c.value] if c.op == "eq" else c.value)
    return stores

Prefix = tuple[str | None, str]  # (store, or None for any store; key prefix)


def search_where(term: str, locations: Iterable[tuple[str, str]]) -> Where:
    """The objects a search term finds (every object for a blank term)."""
    prefixes = search_prefixes(term, locations)
    if prefixes is None:
        return EVERY
    return tuple(((Cond("store", "eq", store),) if store is not None else ()) + (Cond("key", "prefix", prefix),)
                 for store, prefix in prefixes)


def search_prefixes(term: str, locations: Iterable[tuple[str, str]]) -> list[Prefix] | None:
    """The (store, key prefix) alternatives a term names, or None for a blank term (no search).

    A term is read as any of: a key relative to a source's location (`espn_play_by_play/4018`, as the path
    patterns write it), a full key in any store, or a URI (`s3://bucket/key…`, `file:///path…`: that store
    only). Prefixes only: each alternative can use the (key, store) index, where a substring search would
    read every object."""
    term = term.strip()
    if not term:
        return None
    scheme, sep, rest = term.partition("://")
    if sep and scheme.lower() == "s3":
        bucket, _, key = rest.partition("/")
        return [(f"s3://{bucket}", key)]
    if sep and scheme.lower() == "file":
        return [("file://", rest.lstrip("/"))]
    relative = term.lstrip("/")
    wanted = [(None, term)]
    wanted += sorted({(store, prefix + relative) for store, prefix in locations})
    return wanted
