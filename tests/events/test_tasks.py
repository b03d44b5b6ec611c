"""The django-q2 task functions the schedules name."""
import datetime as dt
import importlib

import pytest

from events import tasks
from events.schedules import desired_schedules

from .conftest import HOOKS, set_events_config

pytestmark = pytest.mark.django_db


def test_every_schedule_names_an_existing_task_function():
    set_events_config(HOOKS)
    for spec in desired_schedules():
        module, _, name = spec.func.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), spec.func


def test_scheduled_verify_and_reconcile_use_the_schedule_trigger(fake_runs, hooks_config):
    tasks.scheduled_verify()
    tasks.scheduled_reconcile()
    assert fake_runs.verifications == [{"trigger": "schedule", "patterns": ["*"], "update": False, "use_cache": False}]
    assert fake_runs.reconciles == [{"trigger": "schedule", "use_cache": False}]


def test_scheduled_reconcile_reuses_a_fresh_scan_when_configured(fake_runs, hooks_config, settings):
    # ADCE_RECONCILE_USE_CACHE: lakes fed by S3 Inventory reports are not listed every hour.
    settings.ADCE_RECONCILE_USE_CACHE = True
    tasks.scheduled_reconcile()
    assert fake_runs.reconciles == [{"trigger": "schedule", "use_cache": True}]


def test_scheduled_snapshot_takes_todays_snapshot(hooks_config):
    from metrics.models import Snapshot

    date = tasks.scheduled_snapshot()
    assert Snapshot.objects.get().date.isoformat() == date


def test_expire_task_leases_puts_expired_claims_back():
    from reconciliation.models import Task

    from .conftest import make_task

    task = make_task(task_status="claimed")
    Task.objects.filter(pk=task.pk).update(attempts=1, lease_expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert tasks.expire_task_leases() == 1
    task.refresh_from_db()
    assert task.status == "pending"


def test_process_event_of_a_vanished_event():
    assert tasks.process_event(123456) == {"event": 123456, "status": "missing"}
