"""The measurement cache (CacheEntry): the last successful value of a metric, reused by `verify`
until it expires. TTL = the metric's `ttl_hours`, else `cache.default_ttl_hours`; 0 disables caching
for that metric. Failures are never cached. `update` and `verify --no-cache` always measure fresh.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from .models import CacheEntry, MetricDefinition, MetricsSettings


def ttl_hours(metric: MetricDefinition, settings: MetricsSettings) -> float:
    return metric.ttl_hours if metric.ttl_hours is not None else settings.default_ttl_hours


def cache_read(metric: MetricDefinition, *, now: dt.datetime | None = None, ttl: float | None = None) -> CacheEntry | None:
    """The metric's unexpired entry, or None. With `ttl` (the metric's TTL now), an entry written under
    a longer TTL than today's configuration allows is not used: lowering a TTL takes effect at once."""
    now = now or timezone.now()
    entry = CacheEntry.objects.filter(metric=metric, expires_at__gt=now).first()
    if entry is not None and ttl is not None and entry.measured_at + dt.timedelta(hours=max(ttl, 0)) <= now:
        return None
    return entry


def cache_write(metric: MetricDefinition, value, *, ttl: float, measured_at: dt.datetime | None = None) -> CacheEntry | None:
    measured_at = measured_at or timezone.now()
    if ttl <= 0:
        CacheEntry.objects.filter(metric=metric).delete()
        return None
    entry, _ = CacheEntry.objects.update_or_create(
        metric=metric,
        defaults={"value": value, "measured_at": measured_at, "expires_at": measured_at + dt.timedelta(hours=ttl)},
    )
    return entry


def cache_invalidate(metric: MetricDefinition) -> int:
    return CacheEntry.objects.filter(metric=metric).delete()[0]


@dataclass(frozen=True)
class CacheInfo:
    entries: int
    valid: int
    expired: int
    oldest: dt.datetime | None
    next_expiry: dt.datetime | None
    rows: list  # [(metric full name, value, measured_at, expires_at, valid)]


def cache_info(*, now: dt.datetime | None = None) -> CacheInfo:
    now = now or timezone.now()
    entries = list(CacheEntry.objects.select_related("metric").order_by("metric__category", "metric__name"))
    valid = [e for e in entries if e.expires_at > now]
    return CacheInfo(
        entries=len(entries),
        valid=len(valid),
        expired=len(entries) - len(valid),
        oldest=min((e.measured_at for e in entries), default=None),
        next_expiry=min((e.expires_at for e in valid), default=None),
        rows=[(e.metric.full_name, e.value, e.measured_at, e.expires_at, e.expires_at > now) for e in entries],
    )


def cache_cleanup(*, now: dt.datetime | None = None) -> int:
    """Delete expired entries; returns how many."""
    return CacheEntry.objects.filter(expires_at__lte=now or timezone.now()).delete()[0]


def cache_clear() -> int:
    return CacheEntry.objects.all().delete()[0]
