import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from events.schedules import FIXED, schedules_sync

from .conftest import HOOKS, set_events_config

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 22, 10, 30, tzinfo=dt.timezone.utc)


def rows():
    return {s.name: s for s in Schedule.objects.filter(name__startswith="adce:")}


def test_creates_fixed_and_cron_hook_schedules():
    set_events_config(HOOKS)
    report = schedules_sync(now=NOW)
    names = {s.name for s in FIXED} | {"adce:hook:daily_sync_check", "adce:hook:monthly_audit"}
    assert set(report["created"]) == names and set(rows()) == names
    r = rows()
    assert r["adce:reconcile"].func == "events.tasks.scheduled_reconcile" and r["adce:reconcile"].cron == "5 * * * *"
    assert r["adce:reconcile"].next_run == dt.datetime(2026, 11, 22, 11, 5, tzinfo=dt.timezone.utc)
    assert r["adce:verify"].next_run == dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.timezone.utc)
    assert r["adce:retention"].func == "events.tasks.history_cleanup"
    hook = r["adce:hook:daily_sync_check"]
    assert (hook.schedule_type, hook.cron, hook.func, hook.args) == (Schedule.CRON, "0 9 * * *", "events.tasks.fire_hook",
                                                                     "'daily_sync_check'")
    assert hook.intended_date_kwarg == "intended_date"
    assert r["adce:hook:monthly_audit"].next_run == dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.timezone.utc)


def test_idempotent():
    set_events_config(HOOKS)
    schedules_sync(now=NOW)
    before = {n: (s.pk, s.next_run, s.cron) for n, s in rows().items()}
    report = schedules_sync(now=NOW + dt.timedelta(hours=5))
    assert report["created"] == report["updated"] == report["removed"] == []
    assert {n: (s.pk, s.next_run, s.cron) for n, s in rows().items()} == before


def test_updates_by_name_and_removes_stale_owned_schedules_only():
    set_events_config(HOOKS)
    schedules_sync(now=NOW)
    Schedule.objects.create(name="someone-elses", func="x.y", schedule_type=Schedule.HOURLY)
    Schedule.objects.create(name="adce:old-thing", func="events.tasks.gone", schedule_type=Schedule.HOURLY)
    Schedule.objects.filter(name="adce:verify").update(func="tampered.func")
    old_pk = rows()["adce:hook:daily_sync_check"].pk
    set_events_config({"hooks": [{"name": "daily_sync_check", "trigger": "cron:30 7 * * *", "metrics": ["*"]}]})

    report = schedules_sync(now=NOW)
    assert set(report["removed"]) == {"adce:old-thing", "adce:hook:monthly_audit"}
    assert set(report["updated"]) == {"adce:verify", "adce:hook:daily_sync_check"}
    r = rows()
    assert r["adce:verify"].func == "events.tasks.scheduled_verify"
    hook = r["adce:hook:daily_sync_check"]
    assert hook.pk == old_pk and hook.cron == "30 7 * * *"
    assert hook.next_run == dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.timezone.utc)
    assert Schedule.objects.filter(name="someone-elses").exists()


def test_duplicate_owned_names_are_collapsed():
    schedules_sync(now=NOW)
    Schedule.objects.create(name="adce:verify", func="events.tasks.scheduled_verify", schedule_type=Schedule.DAILY)
    schedules_sync(now=NOW)
    assert Schedule.objects.filter(name="adce:verify").count() == 1


def test_command_json_dry_run_changes_nothing():
    set_events_config(HOOKS)
    out = io.StringIO()
    call_command("setup_schedules", "--dry-run", "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["dry_run"] is True and len(doc["created"]) == len(FIXED) + 2
    assert not Schedule.objects.exists()
    call_command("setup_schedules", stdout=io.StringIO())
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "created" not in out.getvalue() and "adce:verify: unchanged" in out.getvalue()


def test_bad_cron_hook_exits_2_and_changes_nothing():
    schedules_sync(now=NOW)
    before = sorted(Schedule.objects.values_list("name", "cron", "next_run"))
    from metrics.models import MetricsSettings

    s = MetricsSettings.load()
    s.events_config = {"hooks": [{"name": "bad", "trigger": "cron:99 * * * *", "metrics": ["*"]}]}
    s.save()
    with pytest.raises(CommandError) as exc:
        call_command("setup_schedules")
    assert exc.value.returncode == 2 and "events.hooks[0].trigger" in str(exc.value)
    assert sorted(Schedule.objects.values_list("name", "cron", "next_run")) == before


def test_fire_hook_task_records_and_processes_once_per_intended_time(fake_runs):
    from events.models import Event
    from events.tasks import fire_hook

    set_events_config(HOOKS)
    from .conftest import make_metric
    make_metric("s3_storage.total_objects")
    first = fire_hook("daily_sync_check", intended_date="2026-11-22T09:00:00+00:00")
    again = fire_hook("daily_sync_check", intended_date="2026-11-22T09:00:00+00:00")
    assert first == again and first["status"] == "done"
    event = Event.objects.get()
    assert (event.type, event.source) == ("daily_sync_check", "schedule")
    assert fake_runs.verifications == [{"trigger": "schedule", "patterns": ["s3_storage.*"], "update": False,
                                        "use_cache": False}]


def test_s3_events_queue_schedule_only_when_a_queue_is_configured(db, settings):
    from events.schedules import desired_schedules

    settings.ADCE_S3_EVENTS_QUEUE_URL = ""
    assert "adce:s3-events-queue" not in {s.name for s in desired_schedules()}
    settings.ADCE_S3_EVENTS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/s3-events"
    spec = {s.name: s for s in desired_schedules()}["adce:s3-events-queue"]
    assert spec.func == "events.tasks.consume_s3_queue" and spec.cron == "* * * * *"
