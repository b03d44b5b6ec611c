"""Keep a run's row honest when its process or its database connection dies (docs/reliability.md).

* `run_lock(kind, pk)` — a running run holds a session-level PostgreSQL advisory lock (kind, pk) for
  its whole life; take it in the transaction that creates the row, so the row never appears unlocked.
  `run_unlock` when the run has been recorded finished.
The one way to use them is adce_site.runs.run_record; this module is its machinery.

* `runs_fail_stale(queryset, kind, error)` — rows still "running" whose lock nobody holds belong to a
  process or connection that died: mark them failed. Called when the next run starts.
* `save_after_failure(save)` — record a failure even when the failure was the connection itself:
  a dead connection outside any transaction is dropped and `save` retried on a fresh one.

On SQLite there is no cross-process lock to ask: locks are no-ops and nothing is swept.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.utils import timezone

from adce_site.choices import RunStatus

log = logging.getLogger("adce.runguard")

_CLASS = {"verify": 0x41444301, "scan": 0x41444302, "reconcile": 0x41444303}  # "ADC" + kind


def _key(kind: str) -> int:
    return _CLASS[kind] & 0x7FFFFFFF


def run_lock(kind: str, pk: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", [_key(kind), pk])


def run_unlock(kind: str, pk: int) -> None:
    if connection.vendor == "postgresql":
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", [_key(kind), pk])
        except DatabaseError:  # the connection died: its locks died with it
            pass


def runs_fail_stale(queryset, kind: str, error: str) -> int:
    """Mark failed the rows of `queryset` still running whose advisory lock nobody holds."""
    if connection.vendor != "postgresql":
        return 0
    swept = 0
    with connection.cursor() as cur:
        # A run this very session holds (one run started inside another, same connection): its lock is
        # re-entrant, so pg_try_advisory_lock below would take it and judge the live run dead.
        cur.execute("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND classid::bigint = %s AND objsubid = 2 AND granted", [_key(kind)])
        mine = {row[0] for row in cur.fetchall()}
    for pk in queryset.filter(status=RunStatus.RUNNING).exclude(pk__in=mine).values_list("pk", flat=True):
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [_key(kind), pk])
            free = cur.fetchone()[0]
        if not free:
            continue  # its process still runs it
        try:
            swept += queryset.filter(pk=pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), error=error)
        finally:
            run_unlock(kind, pk)
    if swept:
        log.warning("marked %d interrupted %s run(s) failed", swept, kind)
    return swept


def save_after_failure(save: Callable[[], None], label: str) -> bool:
    """Call `save`; on a database error with no transaction open, reconnect and try once more.
    Returns whether the failure could be recorded (if not, the stale-run sweep records it later)."""
    try:
        save()
        return True
    except DatabaseError:
        if connection.in_atomic_block:
            log.warning("%s failed and could not be recorded (inside a transaction)", label)
            return False
        connection.close()
        try:
            save()
            return True
        except DatabaseError:
            log.exception("%s failed and could not be recorded", label)
            return False
