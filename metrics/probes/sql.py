"""`sql_scalar`: one read-only scalar query on a DATABASES alias.

Read-only twice over: only a single SELECT/WITH statement is accepted, and it runs inside a
transaction that is always rolled back (on PostgreSQL also declared READ ONLY)."""
from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from .base import ParamError, ProbeError, check_keys, register, want_str

_READ_RE = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def _clean(query: str) -> str:
    return query.strip().rstrip(";").strip()


def validate(params, *, base_dir):
    check_keys(params, required=("query",), optional=("database",))
    query = _clean(want_str(params, "query"))
    if ";" in query:
        raise ParamError("query", "must be a single statement")
    if not _READ_RE.match(query):
        raise ParamError("query", "must be a read-only SELECT (or WITH … SELECT) statement")
    alias = params.get("database", "default")
    if alias not in settings.DATABASES:
        raise ParamError("database", f"unknown database alias {alias!r} (known: {', '.join(settings.DATABASES)})")
    return {"query": query, "database": alias}


@register("sql_scalar", validate=validate, parse_type="integer")
def sql_scalar(params, ctx):
    alias = params.get("database", "default")
    if alias not in connections:
        raise ProbeError(f"unknown database alias {alias!r}")
    query = _clean(params["query"])
    if ";" in query or not _READ_RE.match(query):
        raise ProbeError("only a single read-only SELECT statement is allowed")
    conn = connections[alias]
    # SET TRANSACTION must be the first statement of a transaction: not possible inside a savepoint.
    outermost = not conn.in_atomic_block
    try:
        with transaction.atomic(using=alias):
            with conn.cursor() as cursor:
                if conn.vendor == "postgresql" and outermost:
                    cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(query)
                row = cursor.fetchone()
            transaction.set_rollback(True, using=alias)
    except DatabaseError as exc:
        raise ProbeError(f"query failed: {' '.join(str(exc).split())}") from None
    if row is None:
        raise ProbeError("query returned no row")
    value = row[0]
    if value is None:
        raise ProbeError("query returned NULL")
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    return value

