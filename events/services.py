"""Writes of the events app: record an event, enqueue it, process it.

Processing an event (`event_process`, the django-q2 task body):

1. its own bookkeeping, never subject to cooldown — an `s3_event` record updates the inventory
   for that key and re-judges only the gaps of the partitions it affects (the closed loop);
2. its hooks (`events.hooks`): when the (type, source) cooldown can be taken in the database,
   reconcile (if a matched hook says `reconcile: true`) and then verify the matched metrics
   (gap metrics are measured after the reconcile that moves them);
3. a `scraper_complete` event completes the scraper's claimed tasks whose gaps are all resolved.

Applying an S3 record in sequencer order is events.s3_apply; the closed loop's inventory, gap and task
work is reconciliation's (reconciliation.services.closed_loop); the runs (reconcile, verify) are
imported where they are used.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from adce_site.choices import RunStatus
from reconciliation.services.closed_loop import scraper_tasks_complete

from .choices import FINISHED_STATUSES, EventStatus, EventType
from .hooks import enabled_metric_names, load_config, plan_for
from .models import Cooldown, Event
from .s3_apply import s3_event_apply

logger = logging.getLogger("adce.events")

EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
PROCESS_TASK = "events.tasks.process_event"


class EventError(ValueError):
    """Bad input to an events service (bad type, payload…); the message says what."""


def normalize_dedupe_key(key) -> str | None:
    if key is None or key == "":
        return None
    key = str(key)
    if len(key) > 255:
        # Long keys (S3 keys may be 1 KiB) keep their identity through a digest.
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def check_storable(where: str, value, _depth: int = 0) -> None:
    """EventError unless `value` can be stored as it is on every database: no NUL character
    (PostgreSQL text and jsonb refuse it), no lone surrogate (not encodable as UTF-8), no NaN or
    infinite number (not JSON), at most 100 levels of nesting."""
    if _depth > 100:
        raise EventError(f"{where}: nested more than 100 levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise EventError(f"{where}: contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"{where}: contains an unpaired surrogate (not UTF-8)") from None
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EventError(f"{where}: {value} is not a JSON number")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_storable(f"{where}.{k}" if len(where) < 200 else where, k, _depth + 1)
            check_storable(f"{where}.{k}" if len(where) < 200 else where, v, _depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_storable(f"{where}[{i}]" if len(where) < 200 else where, v, _depth + 1)


def validate_event_type(event_type) -> str:
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type):
        raise EventError(
            f"event type {event_type!r}: expected 1-100 characters of letters, digits, '_', '.', ':' or '-'"
        )
    return event_type


def event_record(type, *, source="", payload=None, dedupe_key=None, status=EventStatus.PENDING,
                 enqueue=True, now=None) -> tuple[Event, bool]:
    """Record an event once per dedupe key. Returns (event, created).

    A new pending event is enqueued for a worker when the surrounding transaction commits
    (`enqueue=False` for callers that process it themselves). A delivery whose dedupe key is
    already known returns the existing event and does nothing else: it is processed once."""
    validate_event_type(type)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise EventError(f"payload: expected a JSON object, got {payload.__class__.__name__}")
    source = "" if source is None else str(source)
    if len(source) > 150:
        raise EventError("source: at most 150 characters")
    check_storable("source", source)
    check_storable("payload", payload)
    check_storable("id", dedupe_key)
    key = normalize_dedupe_key(dedupe_key)
    if key is not None:
        existing = Event.objects.filter(dedupe_key=key).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            event = Event.objects.create(
                type=type, source=source, payload=payload, dedupe_key=key, status=status,
                received_at=now or timezone.now(),
            )
    except IntegrityError:
        if key is None:
            raise
        # A concurrent delivery of the same key won the insert.
        return Event.objects.get(dedupe_key=key), False
    if enqueue and status == EventStatus.PENDING:
        event_enqueue(event.pk)
    return event, True


def s3_records_record(records: list[dict]) -> tuple[list[Event], int]:
    """Record parsed S3 records (events.s3) as `s3_event` events, each once per dedupe key. Returns
    (events, how many were new). Call it in a transaction: one bad record then records nothing."""
    events, created_count = [], 0
    for record in records:
        payload = dict(record)
        key = payload.pop("dedupe_key")
        event, created = event_record(EventType.S3_EVENT, source=payload["bucket"], payload=payload, dedupe_key=key)
        events.append(event)
        created_count += created
    return events, created_count


def sns_subscription_record(subscription: dict) -> Event:
    """An SNS (Un)SubscriptionConfirmation, kept as an `ignored` event with its Token (shown in the
    admin, for `aws sns confirm-subscription --token`); ADCE never fetches the SubscribeURL."""
    message_id = subscription.get("MessageId")
    event, _ = event_record(EventType.SNS_SUBSCRIPTION, source=subscription.get("TopicArn") or "",
                            payload=subscription, status=EventStatus.IGNORED,
                            dedupe_key=f"sns:{message_id}" if message_id else None)
    return event


def _enqueue_now(event_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task(PROCESS_TASK, event_id, task_name=f"event-{event_id}")
    except Exception:  # broker down: the event stays pending; events_requeue_stale retries it
        logger.exception("could not enqueue event %s; it stays pending", event_id)


def event_enqueue(event_id: int) -> None:
    """Hand the event to django-q2 once the row is committed (a worker must be able to read it)."""
    transaction.on_commit(lambda: _enqueue_now(event_id))


def events_requeue_stale(*, older_than_minutes: float = 10, now=None) -> int:
    """Re-enqueue events still pending after a while (broker outage, lost task), or left processing
    by a killed worker. Safe to repeat:
    processing claims an event with a conditional UPDATE, so a second copy does nothing."""
    now = now or timezone.now()
    stuck = Q(status=EventStatus.PENDING, received_at__lt=now - dt.timedelta(minutes=older_than_minutes)) | Q(
        status=EventStatus.PROCESSING, started_at__lt=now - _stale_after())  # its worker was killed
    ids = list(Event.objects.filter(stuck).order_by("received_at").values_list("pk", flat=True)[:1000])
    for pk in ids:
        event_enqueue(pk)
    return len(ids)


# --- cooldown --------------------------------------------------------------------------------------

def cooldown_acquire(event_type: str, source: str, seconds: float, *, now=None, event=None, force=False) -> bool:
    """Take the (type, source) cooldown: True when hooks may fire now (and records `now` as the
    last firing), False while the previous firing is less than `seconds` old. One conditional
    UPDATE decides, so concurrent workers cannot both fire."""
    now = now or timezone.now()
    row, _ = Cooldown.objects.get_or_create(event_type=event_type, source=source or "")
    qs = Cooldown.objects.filter(pk=row.pk)
    if not force:
        qs = qs.filter(Q(last_fired_at__isnull=True) | Q(last_fired_at__lte=now - dt.timedelta(seconds=seconds)))
    return qs.update(last_fired_at=now, last_event=event) == 1


# --- runs (+ notifications) ------------------------------------------------------------------------

def verification_for_event(*, trigger: str, patterns, update: bool = False):
    """Verify the metrics matched by `patterns`, then notify on critical severity."""
    from metrics.services import verification_run

    from .notifications import notify_verification

    run = verification_run(trigger=trigger, patterns=list(patterns), update=update, use_cache=False)
    notify_verification(run.pk)
    return run


def reconcile_for_event(*, trigger: str):
    """Rescan and reconcile, then notify when CRITICAL gaps were opened."""
    from reconciliation.services.reconcile import reconcile_run

    from .notifications import notify_reconcile

    output = getattr(settings, "ADCE_QUEUE_FILE", "") or None
    # Off by default: rescan every time. On for lakes too big to list hourly, whose inventory comes from
    # S3 Inventory reports plus S3 events (docs/operations.md): reuse a complete scan that is still fresh.
    use_cache = bool(getattr(settings, "ADCE_RECONCILE_USE_CACHE", False))
    run = reconcile_run(use_cache=use_cache, trigger=trigger, output=output)
    notify_reconcile(run.pk)
    return run


def _run_trigger(event: Event) -> str:
    from metrics.choices import Trigger

    if event.type == EventType.GIT_POST_COMMIT:
        return Trigger.GIT_POST_COMMIT
    if event.source == "schedule":
        return Trigger.SCHEDULE
    return Trigger.EVENT


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


# --- scraper_complete ------------------------------------------------------------------------------

def scraper_complete_apply(event: Event) -> dict:
    """A scraper_complete event: its claimed tasks whose gaps are all resolved are done."""
    p = event.payload or {}
    return scraper_tasks_complete(scraper=p.get("scraper") or "", source=event.source or "",
                                  task_ids=p.get("task_ids") or ([p["task_id"]] if p.get("task_id") else []))


# --- processing --------------------------------------------------------------------------------------

def _stale_after() -> dt.timedelta:
    # A task older than the cluster timeout was killed: its event may be claimed again.
    return dt.timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 1800)))


def event_claim(event_id: int, *, now=None) -> bool:
    now = now or timezone.now()
    return Event.objects.filter(pk=event_id).filter(
        Q(status=EventStatus.PENDING) | Q(status=EventStatus.PROCESSING, started_at__lt=now - _stale_after())
    ).update(status=EventStatus.PROCESSING, started_at=now, attempts=F("attempts") + 1) == 1


def _link_failed_run(event: Event, run) -> None:
    """A service that fails after recording its run (ReconcileFailed.run) still links it."""
    from metrics.models import VerificationRun
    from reconciliation.models import ReconcileRun

    if isinstance(run, ReconcileRun) and run.pk:
        event.reconcile_run = run
        Event.objects.filter(pk=event.pk).update(reconcile_run=run)
    elif isinstance(run, VerificationRun) and run.pk:
        event.verification_run = run
        Event.objects.filter(pk=event.pk).update(verification_run=run)


def event_process(event_id: int, *, now=None, ignore_cooldown: bool = False) -> Event | None:
    """Process a recorded event once (the django-q2 task body). Returns the event, or None when
    it does not exist. An event already processed, or being processed, is left alone."""
    now = now or timezone.now()
    if not event_claim(event_id, now=now):
        return Event.objects.filter(pk=event_id).first()
    event = Event.objects.get(pk=event_id)
    result: dict = {}
    status = EventStatus.DONE
    errors: list[str] = []
    try:
        if event.type == EventType.S3_EVENT:
            result["inventory"] = s3_event_apply(event)

        config = load_config()
        plan = plan_for(config, event.type, enabled_metric_names())
        result["hooks"] = [h.name for h in plan.hooks]
        result["patterns"] = plan.patterns
        result["metrics"] = len(plan.metrics)
        if not config.enabled:
            result["note"] = "events disabled (events.enabled: false): no hook fires"
        fires = bool(plan.hooks) and (bool(plan.metrics) or plan.reconcile)
        if plan.hooks and not fires:
            result["note"] = "no enabled metric matches the hooks' patterns"
        if fires:
            taken = cooldown_acquire(event.type, event.source, config.cooldown_seconds, now=now, event=event,
                                     force=ignore_cooldown)
            if not taken:
                status = EventStatus.SKIPPED_COOLDOWN
                result["cooldown"] = f"{event.type}/{event.source or '-'} fired less than {config.cooldown_seconds}s ago"
            else:
                trigger = _run_trigger(event)
                if plan.reconcile:
                    run = reconcile_for_event(trigger=trigger)
                    Event.objects.filter(pk=event.pk).update(reconcile_run=run)
                    event.reconcile_run = run
                    if run.status == RunStatus.FAILED:
                        errors.append(f"reconcile run #{run.pk} failed: {run.error}")
                if plan.metrics:
                    run = verification_for_event(trigger=trigger, patterns=plan.patterns, update=plan.update)
                    Event.objects.filter(pk=event.pk).update(verification_run=run)
                    event.verification_run = run
                    if run.status == RunStatus.FAILED:
                        errors.append(f"verification run #{run.pk} failed: {run.error}")

        if event.type == EventType.SCRAPER_COMPLETE:
            result["tasks"] = scraper_complete_apply(event)
    except Exception as exc:
        logger.exception("event %s (%s) failed", event.pk, event.type)
        errors.append(f"{exc.__class__.__name__}: {exc}")
        _link_failed_run(event, getattr(exc, "run", None))
    if errors:
        status = EventStatus.FAILED
    event.status = status
    event.error = "\n".join(errors)
    event.result = _jsonable(result)
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "error", "result", "processed_at"])
    return event


def event_fire_by_hand(event_type: str, *, source="manual", payload=None) -> Event:
    """`events trigger`: record an event and process it now, in this process, ignoring the
    cooldown (an operator asked for it); the firing still counts for the cooldown."""
    with transaction.atomic():
        event, _ = event_record(event_type, source=source, payload=payload, enqueue=False)
    return event_process(event.pk, ignore_cooldown=True)


def events_history_cleanup(days: int, *, now=None) -> int:
    """Delete finished events older than `days` (their runs stay)."""
    from .models import SignatureSeen

    now = now or timezone.now()
    deleted, _ = Event.objects.filter(status__in=FINISHED_STATUSES, received_at__lt=now - dt.timedelta(days=days)).delete()
    # Replay memory lives as long as the event history (a replay older than that is accepted again).
    SignatureSeen.objects.filter(seen_at__lt=now - dt.timedelta(days=days)).delete()
    return deleted
