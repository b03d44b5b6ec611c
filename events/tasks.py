"""django-q2 task functions. Each takes ids or simple arguments (tasks are pickled and may run
much later, in another process) and calls services; schedules refer to them by dotted path."""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger("adce.events.tasks")


def process_event(event_id: int) -> dict:
    """Process one recorded event. Raises when the event failed, so django-q2 lists the failure."""
    from .choices import EventStatus
    from .services import event_process

    event = event_process(event_id)
    if event is None:
        logger.warning("event %s no longer exists", event_id)
        return {"event": event_id, "status": "missing"}
    if event.status == EventStatus.FAILED:
        raise RuntimeError(f"event {event_id} failed: {event.error}")
    return {"event": event.pk, "status": event.status}


def fire_hook(hook_name: str, intended_date: str | None = None) -> dict:
    """A `cron:` hook's schedule: record an event named after the hook and process it here.
    The intended run time makes the dedupe key, so a schedule fired twice runs once."""
    from .services import event_process, event_record

    key = f"schedule:{hook_name}:{intended_date}" if intended_date else None
    event, created = event_record(hook_name, source="schedule", payload={"intended_date": intended_date},
                                  dedupe_key=key, enqueue=False)
    if created:
        event = event_process(event.pk)
    return {"event": event.pk, "status": event.status}


def scheduled_reconcile() -> int:
    from metrics.choices import Trigger

    from .services import reconcile_for_event

    run = reconcile_for_event(trigger=Trigger.SCHEDULE)
    if (run.summary.get("tasks") or {}).get("created"):
        # reconcile → dispatch (SPEC §13): new tasks start now, not at the next minute
        from django_q.tasks import async_task

        async_task("reconciliation.orchestration.jobs.dispatch")
    return run.pk


def scheduled_verify() -> int:
    from metrics.choices import Trigger

    from .services import verification_for_event

    return verification_for_event(trigger=Trigger.SCHEDULE, patterns=["*"]).pk


def scheduled_snapshot() -> str:
    """Today's snapshot (re-taking the same date replaces it)."""
    from metrics.snapshots import snapshot_take

    return snapshot_take().date.isoformat()


def expire_task_leases() -> int:
    from reconciliation.services.task_queue import tasks_expire_leases

    return tasks_expire_leases()


def consume_s3_queue(queue_url: str | None = None, *, wait_seconds: int = 1, max_receives: int = 500) -> dict:
    """The scheduled form of `consume_s3_events --once` (every minute when ADCE_S3_EVENTS_QUEUE_URL is
    set): drain the queue, short polls, at most `max_receives` batches so that one run ends well before
    the next. Malformed messages stay on the queue (its redrive policy) and are counted in the result."""
    from .sqs import s3_queue_consume

    url = queue_url or settings.ADCE_S3_EVENTS_QUEUE_URL
    if not url:
        return {"skipped": "ADCE_S3_EVENTS_QUEUE_URL is not set"}
    stats = s3_queue_consume(url, once=True, wait_seconds=wait_seconds, max_receives=max_receives)
    if stats.left_on_queue:
        logger.warning("S3 events queue: %d message(s) left on the queue", stats.left_on_queue)
    return stats.as_dict()


def requeue_stale_events() -> int:
    from .services import events_requeue_stale

    return events_requeue_stale()


def history_cleanup(days: int | None = None, *, now: dt.datetime | None = None) -> dict:
    """Retention: delete measurements older than `days` (default settings.ADCE_HISTORY_RETENTION_DAYS),
    except those an approval request refers to and those that became a baseline (`applied`),
    which are the audit trail of decisions; also finished events older than that."""
    from approvals.models import ApprovalRequest
    from metrics.models import Measurement

    from .services import events_history_cleanup

    days = settings.ADCE_HISTORY_RETENTION_DAYS if days is None else int(days)
    if days < 1:
        raise ValueError(f"retention days must be >= 1, got {days}")
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    kept_ids = ApprovalRequest.objects.filter(measurement__isnull=False).values("measurement_id")
    old = Measurement.objects.filter(measured_at__lt=cutoff, applied=False).exclude(pk__in=kept_ids)
    measurements, _ = old.delete()
    events = events_history_cleanup(days, now=now)
    return {"cutoff": cutoff.isoformat(), "measurements_deleted": measurements, "events_deleted": events}
