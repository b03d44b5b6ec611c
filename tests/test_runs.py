"""adce_site.runs.run_record: how a block's end is recorded on the run row (the PostgreSQL side —
locks and the stale-run sweep — is in tests/reliability/test_db_faults.py)."""
import datetime as dt

import pytest

from adce_site.choices import RunStatus
from adce_site.runs import run_record
from metrics.models import VerificationRun
from reconciliation.models import ReconcileRun, ScanRun

pytestmark = pytest.mark.django_db


def test_a_block_that_ends_normally_is_recorded_completed():
    with run_record(VerificationRun, trigger="schedule") as run:
        assert VerificationRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
        run.summary = {"total": 0}
    run = VerificationRun.objects.get(pk=run.pk)
    assert run.status == RunStatus.COMPLETED and run.trigger == "schedule" and run.summary == {"total": 0}
    assert run.finished_at is not None and run.duration_ms is not None


def test_an_exception_is_recorded_failed_with_its_type_and_propagates():
    with pytest.raises(ValueError, match="boom"):
        with run_record(ReconcileRun, as_of=dt.date(2026, 1, 1)):
            raise ValueError("boom")
    run = ReconcileRun.objects.get()
    assert run.status == RunStatus.FAILED and run.error == "ValueError: boom" and run.finished_at is not None


def test_the_status_and_error_the_caller_chose_are_kept():
    with pytest.raises(KeyboardInterrupt):
        with run_record(ScanRun) as run:
            run.fail("interrupted", RunStatus.INTERRUPTED)
            raise KeyboardInterrupt
    run = ScanRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED and run.error == "interrupted"


def test_a_system_exit_inside_is_a_failure_too():
    with pytest.raises(SystemExit):
        with run_record(ScanRun):
            raise SystemExit(3)
    assert ScanRun.objects.get().status == RunStatus.FAILED


def test_a_run_the_caller_completed_is_left_as_recorded():
    with run_record(ScanRun) as run:
        run.status = RunStatus.COMPLETED
        ScanRun.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, objects_seen=7)
    run = ScanRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.objects_seen == 7 and run.finished_at is None
