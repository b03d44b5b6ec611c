"""Reads of the stores held in files: a Where (reconciliation.domain.object_query) translated to DuckDB
over the view `objects` of reconciliation.engine.object_files (the overlay rule). The ORM translation of
the same Where is in reconciliation.object_selectors; both are held equal by its tests.

    files_rows(where, stores, columns, after=, limit=) -> iterator of tuples, ordered by (store, key)
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

from reconciliation.domain.object_query import COLUMNS, Cond, Where
from reconciliation.engine.object_files import objects_duckdb

UTC = dt.timezone.utc
FETCH_ROWS = 10_000


def _cond_sql(cond: Cond) -> tuple[str, list]:
    column = f'"{cond.column}"'
    if cond.op == "eq":
        return (f"{column} IS NULL", []) if cond.value is None else (f"{column} = ?", [cond.value])
    if cond.op == "prefix":
        return f"starts_with({column}, ?)", [cond.value]
    values = list(cond.value)
    if not values:
        return "false", []
    return f"{column} IN ({', '.join('?' * len(values))})", values


def where_sql(where: Where) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of a Where; `false` for no alternative."""
    if not where:
        return "false", []
    alternatives, params = [], []
    for conj in where:
        parts = []
        for cond in conj:
            sql, p = _cond_sql(cond)
            parts.append(sql)
            params += p
        alternatives.append("(" + (" AND ".join(parts) or "true") + ")")
    return " OR ".join(alternatives), params


def _utc(row: tuple, at: int | None) -> tuple:
    # DuckDB gives its own UTC tzinfo; the ORM gives datetime.timezone.utc: the same instant either way,
    # made the same object so rows compare and print alike.
    if at is None or row[at] is None:
        return row
    return row[:at] + (row[at].astimezone(UTC),) + row[at + 1:]


def files_rows(where: Where, stores: Iterable[str], columns: Sequence[str] = COLUMNS, *,
               after: tuple[str, str] | None = None, limit: int | None = None) -> Iterator[tuple]:
    """The objects of these stores held in files that `where` takes, ordered by (store, key), after the
    (store, key) `after`, at most `limit`. A failed read raises (DuckDB's error), never yields nothing."""
    stores = sorted(set(stores))
    if not stores:
        return
    for column in columns:
        if column not in COLUMNS:
            raise ValueError(f"no such column: {column}")
    sql, params = where_sql(where)
    clauses = [f"({sql})", f"store IN ({', '.join('?' * len(stores))})"]
    params = params + stores
    if after is not None:
        clauses.append("(store > ? OR (store = ? AND key > ?))")
        params += [after[0], after[0], after[1]]
    select = (f"SELECT {', '.join(repr_column(c) for c in columns)} FROM objects WHERE {' AND '.join(clauses)} "
              "ORDER BY store, key" + (f" LIMIT {int(limit)}" if limit is not None else ""))
    at = list(columns).index("last_modified") if "last_modified" in columns else None
    with objects_duckdb(stores) as con:
        cursor = con.execute(select, params)
        while batch := cursor.fetchmany(FETCH_ROWS):
            for row in batch:
                yield _utc(row, at)


def repr_column(column: str) -> str:
    return f'"{column}"'
