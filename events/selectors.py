"""Reads of the events app (no side effects): what `events status` and `events test` show."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from .choices import BUILTIN_TYPES, EventType
from .hooks import EventsConfig, enabled_metric_names, plan_for
from .models import Cooldown, Event

BUILTIN_ACTIONS = {
    EventType.S3_EVENT: "update the inventory for the record's key and re-judge the affected gaps "
                        "(ObjectCreated: upsert; ObjectRemoved: remove)",
    EventType.SCRAPER_COMPLETE: "complete the scraper's claimed tasks whose gaps are all resolved",
}


def _event_dict(e: Event) -> dict:
    return {"id": e.pk, "type": e.type, "source": e.source, "status": e.status,
            "received_at": e.received_at, "processed_at": e.processed_at, "error": e.error,
            "verification_run": e.verification_run_id, "reconcile_run": e.reconcile_run_id}


def cooldown_state(config: EventsConfig, event_type: str, source: str, *, now=None) -> dict:
    now = now or timezone.now()
    row = Cooldown.objects.filter(event_type=event_type, source=source or "").first()
    last = row.last_fired_at if row else None
    remaining = 0.0
    if last is not None:
        remaining = max(0.0, (last + dt.timedelta(seconds=config.cooldown_seconds) - now).total_seconds())
    return {"event_type": event_type, "source": source or "", "last_fired_at": last,
            "cooling_down": remaining > 0, "remaining_seconds": round(remaining, 1)}


def events_status(config: EventsConfig, *, recent: int = 20, now=None) -> dict:
    now = now or timezone.now()
    metric_names = enabled_metric_names()
    hooks = []
    for hook in config.hooks:
        plan = plan_for(EventsConfig(enabled=True, hooks=(hook,)), hook.name, metric_names)
        hooks.append({**hook.as_dict(), "cron": hook.cron, "matched_metrics": plan.metrics})
    cooldowns = []
    for row in Cooldown.objects.all():
        state = cooldown_state(config, row.event_type, row.source, now=now)
        cooldowns.append(state)
    counts = dict(Event.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "enabled": config.enabled,
        "cooldown_seconds": config.cooldown_seconds,
        "endpoint_token_configured": bool(getattr(settings, "ADCE_EVENTS_TOKEN", "")),
        "hooks": hooks,
        "cooldowns": cooldowns,
        "events_by_status": counts,
        "recent_events": [_event_dict(e) for e in Event.objects.all()[:recent]],
    }


def events_test(config: EventsConfig, event_type: str, *, source: str = "", now=None) -> dict:
    """What an event of this type would do now, without doing it."""
    plan = plan_for(config, event_type, enabled_metric_names())
    return {
        **plan.as_dict(),
        "enabled": config.enabled,
        "builtin": BUILTIN_ACTIONS.get(event_type),
        "would_fire": bool(plan.hooks) and (bool(plan.metrics) or plan.reconcile),
        "cooldown": cooldown_state(config, event_type, source, now=now),
    }


def is_known_type(config: EventsConfig, event_type: str) -> bool:
    return event_type in BUILTIN_TYPES or bool(config.matching(event_type))
