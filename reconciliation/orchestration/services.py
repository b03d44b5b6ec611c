"""Orchestrator writes (SPEC §13): import the scrapers file, dispatch (claim within every limit),
run, verify, finish; pause and resume.

Limits across processes and hosts: every dispatch decision is taken inside one transaction that
first writes the OrchestrationLimits row — a row lock on PostgreSQL, the database write lock on
SQLite — so dispatchers decide one after another, each seeing the runs the previous ones started.
Running runs and starts-in-window are counted from ScraperRun rows, with the database's clock
(`clock_timestamp()` read after the lock is taken), so neither a second host nor its clock skew can
let a limit overshoot. Each start is still a §8 claim (conditional UPDATE, rowcount checked), so a
scraper claiming through `manage.py tasks claim` or the HTTP API never gets the same task either.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from reconciliation.choices import ACTIVE_RUN_STATUSES, GapStatus, ScraperKind, ScraperRunStatus, TaskStatus
from reconciliation.models import Gap, Task
from reconciliation.selectors import task_document
from reconciliation.services.task_queue import TaskError, task_complete, task_fail, tasks_expire_leases
from reconciliation.orchestration.config import load_scrapers
from reconciliation.orchestration.models import OrchestrationLimits, Scraper, ScraperRun
from reconciliation.orchestration.rules import (breaker_counts_failure, breaker_trips, concurrency_allows, is_paused, rate_allows,
                    retry_at, run_reason, window_start)
from reconciliation.orchestration.runners import CommandRun, Outcome, post_task, remove_quietly, write_task_file
from reconciliation.orchestration.verification import expected_partitions, task_verify

logger = logging.getLogger("adce.orchestration")

LEASE_GRACE_MINUTES = 5   # a claim outlives its scraper's timeout by this much
SCAN_PAGE = 500           # pending tasks read per page while dispatching


def db_now() -> dt.datetime:
    """The database server's clock (PostgreSQL `clock_timestamp()`: the real time now, not the
    transaction's start), so every host measures windows with the same clock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            return cur.fetchone()[0]
    return timezone.now()


# --- import ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ScrapersImportResult:
    path: str
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    max_concurrency: int = 0
    rate_limit: str = ""

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (f"{verb} {len(self.created) + len(self.updated)} scraper(s) from {self.path} "
                f"({len(self.created)} new, {len(self.updated)} updated, {len(self.undeclared)} no longer declared); "
                f"global limits: {self.max_concurrency} at once, {self.rate_limit or 'no rate limit'}")


def scrapers_import(path: str | Path, *, dry_run: bool = False) -> ScrapersImportResult:
    """Validate the whole file (ScraperConfigError on the first problem), then write everything in one
    transaction. Scrapers absent from the file are kept as history but never dispatched again; a
    re-import keeps a scraper's pause and failure count (they are state, not configuration)."""
    config = load_scrapers(path)
    result = ScrapersImportResult(str(path), dry_run, max_concurrency=config.max_concurrency,
                                  rate_limit=config.rate_limit.text if config.rate_limit else "")
    with transaction.atomic():
        existing = {s.name: s for s in Scraper.objects.select_for_update()}
        for spec in config.scrapers:
            fields = {
                "kind": ScraperKind.COMMAND if spec.command else ScraperKind.HTTP,
                "command": list(spec.command), "url": spec.url, "max_concurrency": spec.max_concurrency,
                "rate_count": spec.rate_limit.count if spec.rate_limit else None,
                "rate_window_seconds": spec.rate_limit.window_seconds if spec.rate_limit else None,
                "timeout_minutes": spec.timeout_minutes, "max_attempts": spec.max_attempts,
                "backoff_minutes": list(spec.backoff_minutes), "pause_after_failures": spec.pause_after_failures,
                "pause_minutes": spec.pause_minutes, "enabled": spec.enabled, "declared": True,
            }
            row = existing.pop(spec.name, None)
            (result.updated if row else result.created).append(spec.name)
            if dry_run:
                continue
            if row is None:
                Scraper.objects.create(name=spec.name, **fields)
            else:
                Scraper.objects.filter(pk=row.pk).update(**fields, updated_at=timezone.now())
        result.undeclared = sorted(n for n, s in existing.items() if s.declared)
        if not dry_run:
            Scraper.objects.filter(name__in=result.undeclared).update(declared=False)
            OrchestrationLimits.load()
            OrchestrationLimits.objects.filter(pk=1).update(
                max_concurrency=config.max_concurrency,
                rate_count=config.rate_limit.count if config.rate_limit else None,
                rate_window_seconds=config.rate_limit.window_seconds if config.rate_limit else None,
                source_file=str(Path(path).resolve()), imported_at=timezone.now())
    return result


# --- pause / resume ---------------------------------------------------------------------------------


def scraper_pause(scraper: Scraper, *, minutes: float | None = None, reason: str = "paused by an operator",
                  now: dt.datetime | None = None) -> int:
    """Pause until now + minutes (default: a year — until resumed)."""
    now = now or db_now()
    until = now + dt.timedelta(minutes=minutes if minutes is not None else 365 * 24 * 60)
    return Scraper.objects.filter(pk=scraper.pk).update(paused_until=until, pause_reason=reason, updated_at=now)


def scraper_resume(scraper: Scraper) -> int:
    """An operator says the source is back: no pause, failure count reset (the breaker closes)."""
    return Scraper.objects.filter(pk=scraper.pk).update(paused_until=None, pause_reason="", consecutive_failures=0,
                                                        updated_at=timezone.now())


# --- dispatch: the claim ----------------------------------------------------------------------------


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
    changed = Task.objects.filter(pk=pk, status=TaskStatus.PENDING).update(
        status=TaskStatus.CLAIMED, claimed_by=label, claimed_at=now, lease_expires_at=now + lease,
        attempts=F("attempts") + 1, max_attempts=s.max_attempts, updated_at=now)
    if changed != 1:
        return None
    return ScraperRun.objects.create(task_id=pk, scraper=s, attempt=attempts + 1, claim=label, started_at=now)


def _task_fail_exhausted(pk, s: Scraper, last_error: str, now: dt.datetime) -> bool:
    """A pending task whose attempts already reach the scraper's (possibly lowered) max_attempts."""
    error = f"max_attempts ({s.max_attempts}) reached" + (f"; last error: {last_error}" if last_error else "")
    return Task.objects.filter(pk=pk, status=TaskStatus.PENDING).update(
        status=TaskStatus.FAILED, last_error=error, max_attempts=s.max_attempts, finished_at=now,
        lease_expires_at=None, updated_at=now) == 1


# --- runs: execute, verify, finish --------------------------------------------------------------------


class _Started:
    """A run whose scraper was started: wait() gives its Outcome."""

    def __init__(self, run: ScraperRun, expected, waiter, task_file: str = ""):
        self.run, self.expected, self.waiter, self.task_file = run, expected, waiter, task_file
        self.t0 = time.monotonic()

    def wait(self) -> Outcome:
        try:
            return self.waiter()
        finally:
            if self.task_file:
                remove_quietly(self.task_file)


def _task_file_document(task: Task, expected) -> dict:
    """The §8 entry + `location` + `expected_keys` (§13), and `expected`: each partition with its key
    (null where the pattern cannot be filled in, e.g. a {date} pattern for a game without a date)."""
    return {**task_document(task), "location": task.source.location,
            "expected_keys": [e.key for e in expected if e.key is not None],
            "expected": [{"partition": e.partition, "key": e.key} for e in expected]}


def run_begin(run_id: int) -> _Started | None:
    """Mark the run as executing (once: a second delivery of the same job gets None), build the task
    document and start the scraper."""
    if not ScraperRun.objects.filter(pk=run_id, status=ScraperRunStatus.RUNNING, executing_at=None).update(
            executing_at=timezone.now()):
        return None
    run = ScraperRun.objects.select_related("scraper", "task__source", "task__data_type").get(pk=run_id)
    task, scraper = run.task, run.scraper
    expected = expected_partitions(task)
    document = _task_file_document(task, expected)
    if scraper.kind == ScraperKind.HTTP:
        outcome = post_task(scraper.url, document, secret=getattr(settings, "ADCE_EVENTS_TOKEN", "") or "")
        return _Started(run, expected, lambda: outcome)
    task_file = write_task_file(document, getattr(settings, "ADCE_TASK_FILE_DIR", None))
    command = CommandRun(list(scraper.command), task_file, scraper.timeout_minutes * 60).start()
    return _Started(run, expected, command.wait, task_file)


def run_finish(started: _Started, outcome: Outcome) -> ScraperRun:
    """Verify, then finish the task (done / failed with the reason, retried after backoff) and the run."""
    run = started.run
    run.exit_status = outcome.exit_status
    run.stderr_tail = outcome.stderr_tail
    if outcome.accepted:
        run.status = ScraperRunStatus.ACCEPTED
        run.save(update_fields=["status", "exit_status", "stderr_tail"])
        return run
    verification = task_verify(run.task, started.expected)
    run.partitions_expected = verification.expected
    run.partitions_verified = verification.present
    run.partitions_missing = verification.missing
    run.partitions_resolved = verification.resolved
    done = not verification.error and verification.missing == 0
    reason = "" if done else run_reason(exit_status=outcome.exit_status, error=outcome.error or verification.error,
                                        stderr_tail=outcome.stderr_tail, missing=verification.missing,
                                        total=verification.expected)
    run.status = ScraperRunStatus.SUCCEEDED if done else ScraperRunStatus.FAILED
    run.reason = reason
    # The run ends and the task is released in one commit: a dispatcher that sees the task pending
    # again also sees this run finished (its slot free, its finished_at for the backoff), so a retry
    # can never overlap the attempt before it.
    with transaction.atomic():
        run.finished_at = db_now()
        run.duration_ms = int((time.monotonic() - started.t0) * 1000)
        run.save()
        failed_for_good = _task_settle(run, done=done, reason=reason)
    if failed_for_good:
        notify_task_failed(str(run.task_id))
    _breaker_record(run.scraper, failure=breaker_counts_failure(task_done=done, partitions_resolved=verification.resolved),
                    reason=reason)
    return run


def _task_settle(run: ScraperRun, *, done: bool, reason: str) -> bool:
    """Finish the task under this run's claim (gaps_rejudge may already have marked it done).
    True when the task is now failed for good."""
    task = Task.objects.get(pk=run.task_id)
    if task.status != TaskStatus.CLAIMED or task.claimed_by != run.claim:
        return False
    try:
        if done:
            task_complete(task.pk, worker=run.claim)
            return False
        return task_fail(task.pk, error=reason, worker=run.claim).status == TaskStatus.FAILED
    except TaskError as exc:  # its lease ran out and someone else took it meanwhile
        logger.warning("run %s: could not settle task %s: %s", run.pk, task.pk, exc)
        return False


def _breaker_record(scraper: Scraper, *, failure: bool, reason: str) -> None:
    if not failure:
        Scraper.objects.filter(pk=scraper.pk).exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    Scraper.objects.filter(pk=scraper.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    scraper.refresh_from_db()
    if breaker_trips(scraper.consecutive_failures, scraper.pause_after_failures):
        now = db_now()
        if not is_paused(scraper.paused_until, now):
            scraper_pause(scraper, minutes=scraper.pause_minutes, now=now,
                          reason=f"{scraper.consecutive_failures} consecutive failures; last: {reason}")


def run_execute(run_id: int) -> ScraperRun | None:
    """Run one started ScraperRun to its end (a django-q2 worker's job)."""
    started = run_begin(run_id)
    if started is None:
        return None
    return run_finish(started, started.wait())


def dispatch_once() -> tuple[DispatchPass, list[ScraperRun]]:
    """`dispatch --once`: one dispatch pass, its scrapers started as children of this process (side
    by side), then each waited for, verified and finished."""
    result = dispatch_claim()
    started = [s for s in (run_begin(pk) for pk in result.started) if s is not None]
    return result, [run_finish(s, s.wait()) for s in started]


def runs_reap(now: dt.datetime | None = None) -> tuple[int, int]:
    """Active runs whose task is no longer held by their claim: a RUNNING one lost its worker (the
    lease ran out), an ACCEPTED (HTTP) one was finished through the task API — verified now, so an
    HTTP scraper cannot close a gap by saying so either. Returns (lost, settled)."""
    lost = settled = 0
    active = ScraperRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).select_related("task", "scraper")
    for run in active:
        task = run.task
        if task.status == TaskStatus.CLAIMED and task.claimed_by == run.claim:
            continue
        if run.status == ScraperRunStatus.RUNNING:
            changed = ScraperRun.objects.filter(pk=run.pk, status=ScraperRunStatus.RUNNING).update(
                status=ScraperRunStatus.LOST, finished_at=now or db_now(),
                reason=f"lost: the task is {task.status} ({task.last_error or 'claim released'})")
            lost += changed
            if changed and task.status == TaskStatus.FAILED:  # its last attempt's lease ran out
                notify_task_failed(str(task.pk))
        else:
            settled += _settle_http(run)
    return lost, settled


def _settle_http(run: ScraperRun) -> int:
    if not ScraperRun.objects.filter(pk=run.pk, status=ScraperRunStatus.ACCEPTED).update(
            status=ScraperRunStatus.RUNNING, executing_at=timezone.now()):
        return 0
    task = run.task
    verification = task_verify(task)
    done = not verification.error and verification.missing == 0
    reason = task.last_error if task.status != TaskStatus.DONE else ""
    run.partitions_expected = verification.expected
    run.partitions_verified = verification.present
    run.partitions_missing = verification.missing
    run.partitions_resolved = verification.resolved
    run.status = ScraperRunStatus.SUCCEEDED if done else ScraperRunStatus.FAILED
    reopened = None
    with transaction.atomic():  # the run ends with the task's reopening, in one commit
        if not done and task.status == TaskStatus.DONE:
            # it said "done" but the partitions are not there: the task is not done
            reason = run_reason(exit_status=None, error=verification.error, stderr_tail="",
                                missing=verification.missing, total=verification.expected)
            reopened = TaskStatus.PENDING if task.attempts < task.max_attempts else TaskStatus.FAILED
            Task.objects.filter(pk=task.pk, status=TaskStatus.DONE).update(
                status=reopened, last_error=reason, claimed_by="", claimed_at=None,
                finished_at=timezone.now() if reopened == TaskStatus.FAILED else None, updated_at=timezone.now())
        run.reason = "" if done else reason
        run.finished_at = db_now()
        run.duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)
        run.save()
    if reopened == TaskStatus.FAILED:
        notify_task_failed(str(task.pk))
    _breaker_record(run.scraper, failure=breaker_counts_failure(task_done=done, partitions_resolved=verification.resolved),
                    reason=run.reason)
    return 1


# --- notification -----------------------------------------------------------------------------------


def notify_task_failed(task_id: str) -> dict:
    """A task failed for good: name it (email / webhook of events.notifications). Never raises."""
    from events.notifications import _deliver, _nothing

    try:
        task = Task.objects.select_related("source", "data_type").get(pk=task_id)
        open_gaps = Gap.objects.filter(task=task, status=GapStatus.OPEN).count()
        subject = f"[ADCE] task {task.pk} failed for good after {task.attempts} attempt(s)"
        body = (f"Task {task.pk} ({task.scraper}, {task.source.name}.{task.data_type.name} {task.season or '-'}, "
                f"{task.priority}) failed for good: {task.last_error}\n{open_gaps} gap(s) stay open and are not "
                f"queued again until an operator requeues the task (admin, or `manage.py tasks requeue {task.pk}`).")
        document = {"kind": "task_failed", "task": str(task.pk), "scraper": task.scraper, "source": task.source.name,
                    "data_type": task.data_type.name, "season": task.season, "priority": task.priority,
                    "attempts": task.attempts, "last_error": task.last_error, "open_gaps": open_gaps}
        return _deliver(subject, body, document)
    except Exception:
        logger.exception("notification for failed task %s failed", task_id)
        return _nothing()
