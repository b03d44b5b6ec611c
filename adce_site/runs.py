"""One run record for verify, scan and reconcile: the fields every run has (RunRecord) and the one
context manager that keeps its row honest (run_record), in the spirit of NetBox's JobRunner.

    with run_record(ScanRun, trigger="manual", ...) as run:
        ...                      # the work; the caller records completion where it commits

* Enter: runs left "running" by a process or connection that died are marked failed (STALE_ERROR),
  then the row is created "running" together with its advisory lock (adce_site.runguard), in one
  transaction, so a concurrent sweep never sees it unlocked.
* An exception inside: the run is recorded failed — with the status/error the caller already set
  (e.g. a scan's "interrupted"), else "failed" and "<Type>: <message>" — even when the failure was
  the database connection itself (runguard.save_after_failure); the exception propagates.
* Normal exit: a run the caller left "running" is recorded completed (finish time, duration).
* Always: the advisory lock is released.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import ClassVar, TypeVar

from django.db import models, transaction
from django.utils import timezone

from adce_site.choices import RunStatus
from adce_site import runguard

STALE_ERROR = "interrupted: its process or database connection died before it finished"


class RunRecord(models.Model):
    """Status, start, finish, duration, error and summary of one run; `run_kind` names its lock class."""

    run_kind: ClassVar[str]

    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-started_at"]

    @classmethod
    def stale_candidates(cls):
        """The rows the stale-run sweep judges by their lock (all of them unless a kind says otherwise)."""
        return cls.objects.all()

    def fail(self, error: str, status: RunStatus = RunStatus.FAILED) -> None:
        """Mark the run failed in memory; run_record saves it when the exception leaves its block."""
        self.status = status
        self.error = error


R = TypeVar("R", bound=RunRecord)


def runs_fail_stale(model: type[RunRecord]) -> int:
    """Mark failed the "running" rows of `model` whose process or connection is gone."""
    return runguard.runs_fail_stale(model.stale_candidates(), model.run_kind, STALE_ERROR)


@contextlib.contextmanager
def run_record(model: type[R], **fields) -> Iterator[R]:
    """Create a running, locked `model` row with `fields`; record how the block ended (module doc)."""
    runs_fail_stale(model)
    with transaction.atomic():  # the row becomes visible already locked
        run = model.objects.create(status=RunStatus.RUNNING, **fields)
        runguard.run_lock(model.run_kind, run.pk)
    started = time.perf_counter()
    try:
        yield run
        if run.status == RunStatus.RUNNING:
            _finish(run, started, RunStatus.COMPLETED)
            run.save()
    except BaseException as exc:
        if not RunStatus(run.status).is_failure:  # a caller that failed it first chose the error
            run.fail(f"{type(exc).__name__}: {exc}"[:2000])
        _finish(run, started, run.status)
        runguard.save_after_failure(run.save, f"{model._meta.verbose_name} #{run.pk}")
        raise
    finally:
        runguard.run_unlock(model.run_kind, run.pk)


def _finish(run: RunRecord, started: float, status: str) -> None:
    run.status = status
    if run.finished_at is None:
        run.finished_at = timezone.now()
    if run.duration_ms is None:
        run.duration_ms = int((time.perf_counter() - started) * 1000)
