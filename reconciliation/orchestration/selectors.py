"""Orchestrator reads: the dispatch report, the Scrapers page rows and the loop's health (SPEC §13)."""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from reconciliation.choices import ACTIVE_RUN_STATUSES, GapStatus, Priority, ScraperRunStatus, TaskStatus
from reconciliation.models import Gap, Task
from reconciliation.selectors import iso_z
from reconciliation.orchestration.models import OrchestrationLimits, Scraper, ScraperRun
from reconciliation.orchestration.rules import is_paused, window_start

HEAL_WINDOW = dt.timedelta(hours=24)


def run_document(run: ScraperRun) -> dict:
    return {
        "run": run.pk, "task": str(run.task_id), "scraper": run.scraper.name, "attempt": run.attempt,
        "status": run.status, "started_at": iso_z(run.started_at), "finished_at": iso_z(run.finished_at),
        "duration_ms": run.duration_ms, "exit_status": run.exit_status, "reason": run.reason,
        "partitions_expected": run.partitions_expected, "partitions_verified": run.partitions_verified,
        "partitions_missing": run.partitions_missing, "partitions_resolved": run.partitions_resolved,
        "task_status": Task.objects.filter(pk=run.task_id).values_list("status", flat=True).first(),
    }


def dispatch_document(result, runs: list[ScraperRun]) -> dict:
    """What `dispatch --json` prints."""
    return {
        "started": len(result.started),
        "started_runs": result.started,
        "blocked": dict(sorted(result.blocked.items())),
        "failed_for_good": result.failed_for_good,
        "lost_runs": result.reaped,
        "wake_at": iso_z(result.wake_at),
        "runs": [run_document(r) for r in runs],
    }


@dataclass(frozen=True, slots=True)
class ScraperRow:
    scraper: Scraper
    paused: bool
    running: int
    starts_in_window: int | None  # None when the scraper has no rate limit
    pending: int
    last_success: ScraperRun | None
    last_failure: ScraperRun | None


def scraper_rows(now: dt.datetime | None = None) -> list[ScraperRow]:
    """One row per declared scraper for the admin's Scrapers page."""
    now = now or timezone.now()
    scrapers = list(Scraper.objects.filter(declared=True).order_by("name"))
    running = dict(ScraperRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).values("scraper_id")
                   .annotate(n=Count("id")).values_list("scraper_id", "n"))
    pending = dict(Task.objects.filter(status=TaskStatus.PENDING, scraper__in=[s.name for s in scrapers])
                   .values("scraper").annotate(n=Count("id")).values_list("scraper", "n"))
    rows = []
    for s in scrapers:
        limit = s.rate_limit
        in_window = (ScraperRun.objects.filter(scraper=s, started_at__gt=window_start(now, limit)).count()
                     if limit else None)
        runs = ScraperRun.objects.filter(scraper=s).order_by("-finished_at")
        rows.append(ScraperRow(
            scraper=s, paused=is_paused(s.paused_until, now), running=running.get(s.pk, 0),
            starts_in_window=in_window, pending=pending.get(s.name, 0),
            last_success=runs.filter(status=ScraperRunStatus.SUCCEEDED).first(),
            last_failure=runs.filter(status__in=(ScraperRunStatus.FAILED, ScraperRunStatus.LOST)).first(),
        ))
    return rows


def global_usage(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    limits = OrchestrationLimits.load()
    limit = limits.rate_limit
    return {
        "limits": limits,
        "running": ScraperRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).count(),
        "starts_in_window": ScraperRun.objects.filter(started_at__gt=window_start(now, limit)).count() if limit else None,
    }


# --- the loop's health ------------------------------------------------------------------------------

HEALTH_STATS = ("gaps_healed_24h", "median_time_to_heal_hours", "oldest_critical_gap_age_hours",
                "tasks_failed_for_good", "scrapers_paused")


class HealthUnknown(ValueError):
    """A health figure that cannot be judged (yet); the message says why."""


def loop_health_stat(stat: str, now: dt.datetime | None = None) -> float | int:
    now = now or timezone.now()
    if stat == "gaps_healed_24h":
        return Gap.objects.filter(status=GapStatus.RESOLVED, resolved_at__gt=now - HEAL_WINDOW).count()
    if stat == "median_time_to_heal_hours":
        spans = [(r - f).total_seconds() / 3600 for f, r in
                 Gap.objects.filter(status=GapStatus.RESOLVED, resolved_at__gt=now - HEAL_WINDOW)
                 .values_list("first_seen_at", "resolved_at").iterator(chunk_size=10_000)]
        if not spans:
            raise HealthUnknown("no gap was resolved in the last 24 h: no time-to-heal to measure")
        return max(0.0, statistics.median(spans))
    if stat == "oldest_critical_gap_age_hours":
        oldest = (Gap.objects.filter(status=GapStatus.OPEN, priority=Priority.CRITICAL).order_by("first_seen_at")
                  .values_list("first_seen_at", flat=True).first())
        return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds() / 3600)
    if stat == "tasks_failed_for_good":
        return Task.objects.filter(status=TaskStatus.FAILED).count()
    if stat == "scrapers_paused":
        return Scraper.objects.filter(declared=True, paused_until__gt=now).count()
    raise HealthUnknown(f"unknown statistic {stat!r} (one of {', '.join(HEALTH_STATS)})")


def loop_health(now: dt.datetime | None = None) -> list[dict]:
    """Every health figure with its value or the reason it is unknown (the admin home)."""
    out = []
    for stat in HEALTH_STATS:
        try:
            out.append({"stat": stat, "value": loop_health_stat(stat, now), "error": ""})
        except HealthUnknown as exc:
            out.append({"stat": stat, "value": None, "error": str(exc)})
    return out

