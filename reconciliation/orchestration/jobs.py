"""django-q2 task functions of the orchestrator. Each takes ids (tasks are pickled and may run in
another process, on another host) and calls services.

The loop: the `adce:dispatch` schedule (every minute) and the end of every run dispatch; a
dispatch that found work held back only by a rate limit or a backoff ending within
WAKE_MAX_SECONDS enqueues one `dispatch_at` for that moment (deduplicated in the database), so a
freed slot is used in seconds rather than at the next minute.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from django.db.models import Q

WAKE_MAX_SECONDS = 10
logger = logging.getLogger("adce.orchestration")


def _enqueue(func: str, *args) -> None:
    from django_q.tasks import async_task

    async_task(func, *args)


def dispatch_and_enqueue():
    """One dispatch pass; every started run goes to a worker."""
    from reconciliation.orchestration.models import OrchestrationLimits
    from reconciliation.orchestration.services import db_now
    from reconciliation.orchestration.dispatch import dispatch_claim

    result = dispatch_claim()
    for run_id in result.started:
        _enqueue("reconciliation.orchestration.jobs.execute_run", run_id)
    if result.wake_at is not None:
        now = db_now()
        wait = (result.wake_at - now).total_seconds()
        claimed = 0 < wait <= WAKE_MAX_SECONDS and OrchestrationLimits.objects.filter(pk=1).filter(
            Q(wake_at__isnull=True) | Q(wake_at__lte=now)).update(wake_at=result.wake_at)
        if claimed:
            _enqueue("reconciliation.orchestration.jobs.dispatch_at", result.wake_at.isoformat())
    return result


def dispatch() -> dict:
    """The `adce:dispatch` schedule's function."""
    result = dispatch_and_enqueue()
    return {"started": len(result.started), "blocked": dict(result.blocked)}


def dispatch_at(moment: str) -> dict:
    """Wait (at most WAKE_MAX_SECONDS) until `moment`, then dispatch."""
    from reconciliation.orchestration.services import db_now

    wait = (dt.datetime.fromisoformat(moment) - db_now()).total_seconds()
    time.sleep(min(max(wait, 0.0), WAKE_MAX_SECONDS))  # a bounded pause before a rate window frees
    return dispatch()


def execute_run(run_id: int) -> dict:
    """Run one started ScraperRun, verify, finish; then dispatch again (a slot is free)."""
    from reconciliation.orchestration.runs import run_execute

    run = run_execute(run_id)
    # Dispatch right here rather than as one more job: a broker round trip per task saved. If it
    # fails, the every-minute schedule dispatches; the run itself is recorded either way.
    try:
        dispatch_and_enqueue()
    except Exception:
        logger.exception("dispatch after run %s failed; the adce:dispatch schedule will retry", run_id)
    if run is None:
        return {"run": run_id, "status": "already executed"}
    return {"run": run.pk, "status": run.status, "reason": run.reason}


def scan_file(part_id: int) -> dict:
    """One data file of a `scan --parallel` (reconciliation.services.scan_parallel). A failed file
    raises after failing its scan, so django-q2 lists the failure too."""
    from reconciliation.services.scan_parallel import scan_part_run

    return scan_part_run(part_id)
