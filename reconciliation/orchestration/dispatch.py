"""Dispatch (SPEC §13): claim pending tasks for their scrapers within every limit, then start them.

Limits across processes and hosts: every dispatch decision is taken inside one transaction that
first writes the OrchestrationLimits row — a row lock on PostgreSQL, the database write lock on
SQLite — so dispatchers decide one after another, each seeing the runs the previous ones started.
Running runs and starts-in-window are counted from ScraperRun rows, with the database's clock
(`clock_timestamp()` read after the lock is taken), so neither a second host nor its clock skew can
let a limit overshoot. Each start is still the §8 claim (`task_try_claim`: conditional UPDATE,
rowcount checked), so a scraper claiming through `manage.py tasks claim` or the HTTP API never gets
the same task either.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from reconciliation.choices import ACTIVE_RUN_STATUSES, TaskStatus
from reconciliation.models import Task
from reconciliation.orchestration.models import OrchestrationLimits, Scraper, ScraperRun
from reconciliation.orchestration.notify import notify_task_failed
from reconciliation.orchestration.rules import concurrency_allows, is_paused, rate_allows, retry_at, window_start
from reconciliation.orchestration.runs import run_begin, run_finish, runs_reap
from reconciliation.orchestration.services import db_now
from reconciliation.services.task_queue import task_try_claim, tasks_expire_leases

LEASE_GRACE_MINUTES = 5   # a claim outlives its scraper's timeout by this much
SCAN_PAGE = 500           # pending tasks read per page while dispatching


@dataclass(slots=True)
class DispatchPass:
    started: list[int] = field(default_factory=list)         # ScraperRun ids
    blocked: Counter = field(default_factory=Counter)         # why pending tasks did not start
    failed_for_good: list[str] = field(default_factory=list)  # task ids at max_attempts already
    reaped: int = 0
    settled: int = 0
    wake_at: dt.datetime | None = None                        # when a rate limit or backoff frees one

    def wake(self, moment: dt.datetime | None) -> None:
        if moment is not None and (self.wake_at is None or moment < self.wake_at):
            self.wake_at = moment


def _claim_label() -> str:
    return f"dispatch:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _rate_wake(starts: list[dt.datetime], count: int, window: int) -> dt.datetime | None:
    """When the window will hold fewer than `count` starts again (starts ascending)."""
    if len(starts) < count:
        return None
    return starts[len(starts) - count] + dt.timedelta(seconds=window)


class _Budget:
    """The limits as they stand inside one locked dispatch decision."""

    def __init__(self, running: Counter, now: dt.datetime, limits: OrchestrationLimits, scrapers: dict[int, Scraper]):
        self.now = now
        self.limits = limits
        self.running = running
        self.running_total = sum(running.values())
        self.global_starts: list[dt.datetime] = []
        if limits.rate_limit:
            self.global_starts = list(ScraperRun.objects.filter(started_at__gt=window_start(now, limits.rate_limit))
                                      .order_by("started_at").values_list("started_at", flat=True))
        self.starts: dict[int, list[dt.datetime]] = {}
        for s in scrapers.values():
            if s.rate_limit:
                self.starts[s.pk] = list(
                    ScraperRun.objects.filter(scraper=s, started_at__gt=window_start(now, s.rate_limit))
                    .order_by("started_at").values_list("started_at", flat=True))

    def global_block(self) -> tuple[str, dt.datetime | None] | None:
        if not concurrency_allows(self.running_total, self.limits.max_concurrency):
            return "global concurrency", None
        limit = self.limits.rate_limit
        if not rate_allows(len(self.global_starts), limit):
            return "global rate limit", _rate_wake(self.global_starts, limit.count, limit.window_seconds)
        return None

    def scraper_block(self, s: Scraper) -> tuple[str, dt.datetime | None] | None:
        if not concurrency_allows(self.running[s.pk], s.max_concurrency):
            return "scraper concurrency", None
        limit = s.rate_limit
        if limit and not rate_allows(len(self.starts[s.pk]), limit):
            return "scraper rate limit", _rate_wake(self.starts[s.pk], limit.count, limit.window_seconds)
        return None

    def take(self, s: Scraper) -> None:
        self.running[s.pk] += 1
        self.running_total += 1
        self.global_starts.append(self.now)
        if s.pk in self.starts:
            self.starts[s.pk].append(self.now)


def _pending_pages(names: list[str]):
    """Pending tasks of these scrapers, most urgent first, with their last run's end; paged by keyset
    so a long queue is never read whole."""
    base = (Task.objects.filter(status=TaskStatus.PENDING, scraper__in=names)
            .annotate(last_finished=Max("scraper_runs__finished_at"))
            .order_by("priority_rank", "created_at", "id")
            .values_list("pk", "scraper", "attempts", "last_finished", "priority_rank", "created_at", "last_error"))
    after = None
    while True:
        qs = base
        if after is not None:
            r, c, i = after
            qs = qs.filter(Q(priority_rank__gt=r) | Q(priority_rank=r, created_at__gt=c)
                           | Q(priority_rank=r, created_at=c, pk__gt=i))
        page = list(qs[:SCAN_PAGE])
        if not page:
            return
        yield page
        last = page[-1]
        after = (last[4], last[5], last[0])


def dispatch_claim(*, now: dt.datetime | None = None) -> DispatchPass:
    """Start (claim + ScraperRun) every pending task the limits allow right now, most urgent first.
    Returns the ids of the runs started; executing them is run_execute's job."""
    result = DispatchPass()
    tasks_expire_leases()
    result.reaped, result.settled = runs_reap()
    OrchestrationLimits.load()
    with transaction.atomic():
        # The lock: dispatchers on every host queue here, one decision at a time.
        OrchestrationLimits.objects.filter(pk=1).update(locked_at=timezone.now())
        # Runs that end do not take the lock: count them first, then read the clock, so a start is
        # always stamped later than the end (finished_at) of every run it saw finished.
        running = Counter(ScraperRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("scraper_id", flat=True))
        now = now or db_now()
        limits = OrchestrationLimits.objects.get(pk=1)
        declared = {s.name: s for s in Scraper.objects.filter(declared=True)}
        usable = {name: s for name, s in declared.items() if s.enabled and not is_paused(s.paused_until, now)}
        for name, s in declared.items():
            if name not in usable:
                n = Task.objects.filter(status=TaskStatus.PENDING, scraper=name).count()
                if n:
                    result.blocked["disabled" if not s.enabled else "paused"] += n
        if not usable:
            return result
        budget = _Budget(running, now, limits, {s.pk: s for s in usable.values()})
        saturated: set[str] = set()
        for page in _pending_pages(sorted(usable)):
            for pk, name, attempts, last_finished, _rank, _created, last_error in page:
                blocked = budget.global_block()
                if blocked:
                    result.blocked[blocked[0]] += 1
                    result.wake(blocked[1])
                    return result
                s = usable[name]
                if name in saturated:
                    result.blocked["scraper limit"] += 1
                    continue
                if attempts >= s.max_attempts:
                    if _task_fail_exhausted(pk, s, last_error, now):
                        result.failed_for_good.append(str(pk))
                    continue
                wait_until = retry_at(last_finished, s.backoff_minutes, attempts)
                if wait_until is not None and wait_until > now:
                    result.blocked["backoff"] += 1
                    result.wake(wait_until)
                    continue
                blocked = budget.scraper_block(s)
                if blocked:
                    saturated.add(name)
                    result.blocked[blocked[0]] += 1
                    result.wake(blocked[1])
                    continue
                run = _claim(pk, s, attempts, now)
                if run is not None:
                    budget.take(s)
                    result.started.append(run.pk)
            if len(saturated) == len(usable):
                break
    for task_id in result.failed_for_good:
        notify_task_failed(task_id)
    return result


def _claim(pk, s: Scraper, attempts: int, now: dt.datetime) -> ScraperRun | None:
    """The §8 claim: pending → claimed only if still pending (rowcount 1). The scraper's
    max_attempts is written onto the task here: it governs at dispatch time (§13)."""
    label = _claim_label()
    lease = dt.timedelta(minutes=s.timeout_minutes + LEASE_GRACE_MINUTES)
    if not task_try_claim(pk, worker=label, now=now, lease=lease, max_attempts=s.max_attempts):
        return None
    return ScraperRun.objects.create(task_id=pk, scraper=s, attempt=attempts + 1, claim=label, started_at=now)


def _task_fail_exhausted(pk, s: Scraper, last_error: str, now: dt.datetime) -> bool:
    """A pending task whose attempts already reach the scraper's (possibly lowered) max_attempts."""
    error = f"max_attempts ({s.max_attempts}) reached" + (f"; last error: {last_error}" if last_error else "")
    return Task.objects.filter(pk=pk, status=TaskStatus.PENDING).update(
        status=TaskStatus.FAILED, last_error=error, max_attempts=s.max_attempts, finished_at=now,
        lease_expires_at=None, updated_at=now) == 1


def dispatch_once() -> tuple[DispatchPass, list[ScraperRun]]:
    """`dispatch --once`: one dispatch pass, its scrapers started as children of this process (side
    by side), then each waited for, verified and finished."""
    result = dispatch_claim()
    started = [s for s in (run_begin(pk) for pk in result.started) if s is not None]
    return result, [run_finish(s, s.wait()) for s in started]
