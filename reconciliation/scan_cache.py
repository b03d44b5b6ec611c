"""Selectors: is the stored inventory fresh enough for `reconcile --use-cache` to judge from it?

    fresh_scans(now) -> the completed scans that make it fresh, or None
"""
from __future__ import annotations

import datetime as dt
import os

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from adce_site.choices import RunStatus
from reconciliation.choices import ScanMode
from reconciliation.models import ReconciliationSettings, ScanRun, Source


def cache_hours() -> float:
    value = getattr(settings, "ADCE_SCAN_CACHE_HOURS", None)
    if value is None:
        value = os.environ.get("ADCE_SCAN_CACHE_HOURS", "24")
    try:
        return float(value)
    except (TypeError, ValueError):
        return 24.0


def coverage_changed_at() -> dt.datetime | None:
    """When the coverage or a catalog last changed (the inventory's matches may be outdated since)."""
    stamps = [
        ReconciliationSettings.objects.filter(pk=1).values_list("imported_at", flat=True).first(),
        Source.objects.aggregate(m=Max("updated_at"))["m"],
    ]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


def fresh_scans(now: dt.datetime | None = None) -> list[ScanRun] | None:
    """Scans that make the inventory fresh, or None when it is not.

    Fresh: every active source is covered by a completed, non-sampled scan that finished within
    ADCE_SCAN_CACHE_HOURS (default 24) and after the last coverage/catalog change."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=cache_hours())
    changed = coverage_changed_at()
    if changed is not None and changed > since:
        since = changed
    needed = set(Source.objects.filter(active=True).values_list("name", flat=True))
    if not needed:
        return None
    used: list[ScanRun] = []
    # A scan of another copy (--location) inventories that copy; it does not stand for the source.
    qs = (ScanRun.objects.filter(status=RunStatus.COMPLETED, finished_at__gt=since, location_override="")
          .exclude(mode=ScanMode.SAMPLE).order_by("-finished_at"))
    for run in qs.iterator():
        covered = needed & set(run.sources or [])
        if covered:
            used.append(run)
            needed -= covered
        if not needed:
            return used
    return None
