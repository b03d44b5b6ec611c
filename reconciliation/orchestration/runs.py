"""Orchestrator runs (SPEC §13): start a claimed task's scraper, wait, verify what it wrote against
storage, then finish the task and the run in one commit; reap runs whose claim was lost; settle
HTTP scrapers' runs once they report through the task API."""
from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reconciliation.choices import ACTIVE_RUN_STATUSES, ScraperKind, ScraperRunStatus, TaskStatus
from reconciliation.models import Task
from reconciliation.orchestration.models import Scraper, ScraperRun
from reconciliation.orchestration.notify import notify_task_failed
from reconciliation.orchestration.rules import breaker_counts_failure, breaker_trips, is_paused, run_reason
from reconciliation.orchestration.runners import CommandRun, Outcome, post_task, remove_quietly, write_task_file
from reconciliation.orchestration.services import db_now, scraper_pause
from reconciliation.orchestration.verification import expected_partitions, task_verify
from reconciliation.selectors import task_document
from reconciliation.services.task_queue import TaskError, task_complete, task_fail

logger = logging.getLogger("adce.orchestration")



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
