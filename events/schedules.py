"""The django-q2 schedules ADCE owns: every row named "adce:…" is created, updated and removed here.

Fixed schedules (UTC):
    adce:reconcile        hourly at :05        events.tasks.scheduled_reconcile
    adce:verify           daily 06:00          events.tasks.scheduled_verify
    adce:snapshot         daily 23:50          events.tasks.scheduled_snapshot
    adce:retention        daily 03:30          events.tasks.history_cleanup
    adce:task-leases      every 10 minutes     events.tasks.expire_task_leases
    adce:events-requeue   every 10 minutes     events.tasks.requeue_stale_events
    adce:dispatch         every minute         reconciliation.orchestration.jobs.dispatch (SPEC §13)
plus one `adce:hook:<name>` per `cron:<expr>` hook of the metrics YAML (events.tasks.fire_hook), and,
when ADCE_S3_EVENTS_QUEUE_URL is set, `adce:s3-events-queue` every minute (events.tasks.consume_s3_queue).

All are CRON schedules, so the time of day is explicit and a re-run of `setup_schedules` does not
move next_run unless the expression changed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .hooks import load_config

PREFIX = "adce:"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    cron: str
    args: str | None = None
    kwargs: str | None = None
    intended_date_kwarg: str | None = None


FIXED = (
    ScheduleSpec("adce:reconcile", "events.tasks.scheduled_reconcile", "5 * * * *"),
    ScheduleSpec("adce:verify", "events.tasks.scheduled_verify", "0 6 * * *"),
    ScheduleSpec("adce:snapshot", "events.tasks.scheduled_snapshot", "50 23 * * *"),
    ScheduleSpec("adce:retention", "events.tasks.history_cleanup", "30 3 * * *"),
    ScheduleSpec("adce:task-leases", "events.tasks.expire_task_leases", "*/10 * * * *"),
    ScheduleSpec("adce:events-requeue", "events.tasks.requeue_stale_events", "*/10 * * * *"),
    ScheduleSpec("adce:dispatch", "reconciliation.orchestration.jobs.dispatch", "* * * * *"),
)


def desired_schedules(config=None) -> list[ScheduleSpec]:
    """The schedules that should exist. Raises HookConfigError for a malformed events section."""
    config = config if config is not None else load_config()
    specs = list(FIXED)
    for hook in config.cron_hooks():
        specs.append(ScheduleSpec(f"{PREFIX}hook:{hook.name}"[:100], "events.tasks.fire_hook", hook.cron,
                                  args=repr(hook.name), intended_date_kwarg="intended_date"))
    if getattr(settings, "ADCE_S3_EVENTS_QUEUE_URL", ""):
        specs.append(ScheduleSpec(f"{PREFIX}s3-events-queue", "events.tasks.consume_s3_queue", "* * * * *"))
    return specs


def _next_run(cron: str, now: dt.datetime) -> dt.datetime:
    return croniter(cron, now).get_next(dt.datetime)


def schedules_sync(*, dry_run: bool = False, now=None, config=None) -> dict:
    """Create or update by name every desired schedule, delete "adce:" schedules no longer
    desired. Idempotent: a second call changes nothing. Returns names by outcome."""
    from django_q.models import Schedule

    now = now or timezone.now()
    specs = desired_schedules(config)
    report = {"created": [], "updated": [], "unchanged": [], "removed": []}
    with transaction.atomic():
        existing = {}
        for row in Schedule.objects.select_for_update().filter(name__startswith=PREFIX).order_by("pk"):
            if row.name in existing:
                # Two schedules with the same owned name would fire twice: keep the oldest.
                report["removed"].append(row.name)
                if not dry_run:
                    row.delete()
                continue
            existing[row.name] = row
        for spec in specs:
            wanted = {"func": spec.func, "args": spec.args, "kwargs": spec.kwargs, "hook": None,
                      "schedule_type": Schedule.CRON, "cron": spec.cron, "minutes": None, "repeats": -1,
                      "intended_date_kwarg": spec.intended_date_kwarg}
            row = existing.pop(spec.name, None)
            if row is None:
                report["created"].append(spec.name)
                if not dry_run:
                    row = Schedule.objects.create(name=spec.name, **wanted)
                    # Schedule.save() computes a new CRON row's next_run from the wall clock; ours is `now`.
                    Schedule.objects.filter(pk=row.pk).update(next_run=_next_run(spec.cron, now))
                continue
            changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
            if not changed:
                report["unchanged"].append(spec.name)
                continue
            report["updated"].append(spec.name)
            if not dry_run:
                for k, v in changed.items():
                    setattr(row, k, v)
                if "cron" in changed or "schedule_type" in changed or row.next_run is None:
                    row.next_run = _next_run(spec.cron, now)
                row.save()
        for name, row in sorted(existing.items()):
            report["removed"].append(name)
            if not dry_run:
                row.delete()
    return report
