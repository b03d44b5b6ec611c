"""Orchestrator writes (SPEC §13) outside a dispatch pass: import the scrapers file, pause and
resume a scraper, and the database clock every limit is counted with. Dispatch: dispatch.py;
running, verifying and finishing a claimed task: runs.py."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from reconciliation.choices import ScraperKind
from reconciliation.orchestration.config import load_scrapers
from reconciliation.orchestration.models import OrchestrationLimits, Scraper

logger = logging.getLogger("adce.orchestration")



def db_now() -> dt.datetime:
    """The database server's clock (PostgreSQL `clock_timestamp()`: the real time now, not the
    transaction's start), so every host measures windows with the same clock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            return cur.fetchone()[0]
    return timezone.now()


# --- import ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ScrapersImportResult:
    path: str
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    max_concurrency: int = 0
    rate_limit: str = ""

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (f"{verb} {len(self.created) + len(self.updated)} scraper(s) from {self.path} "
                f"({len(self.created)} new, {len(self.updated)} updated, {len(self.undeclared)} no longer declared); "
                f"global limits: {self.max_concurrency} at once, {self.rate_limit or 'no rate limit'}")


def scrapers_import(path: str | Path, *, dry_run: bool = False) -> ScrapersImportResult:
    """Validate the whole file (ScraperConfigError on the first problem), then write everything in one
    transaction. Scrapers absent from the file are kept as history but never dispatched again; a
    re-import keeps a scraper's pause and failure count (they are state, not configuration)."""
    config = load_scrapers(path)
    result = ScrapersImportResult(str(path), dry_run, max_concurrency=config.max_concurrency,
                                  rate_limit=config.rate_limit.text if config.rate_limit else "")
    with transaction.atomic():
        existing = {s.name: s for s in Scraper.objects.select_for_update()}
        for spec in config.scrapers:
            fields = {
                "kind": ScraperKind.COMMAND if spec.command else ScraperKind.HTTP,
                "command": list(spec.command), "url": spec.url, "max_concurrency": spec.max_concurrency,
                "rate_count": spec.rate_limit.count if spec.rate_limit else None,
                "rate_window_seconds": spec.rate_limit.window_seconds if spec.rate_limit else None,
                "timeout_minutes": spec.timeout_minutes, "max_attempts": spec.max_attempts,
                "backoff_minutes": list(spec.backoff_minutes), "pause_after_failures": spec.pause_after_failures,
                "pause_minutes": spec.pause_minutes, "enabled": spec.enabled, "declared": True,
            }
            row = existing.pop(spec.name, None)
            (result.updated if row else result.created).append(spec.name)
            if dry_run:
                continue
            if row is None:
                Scraper.objects.create(name=spec.name, **fields)
            else:
                Scraper.objects.filter(pk=row.pk).update(**fields, updated_at=timezone.now())
        result.undeclared = sorted(n for n, s in existing.items() if s.declared)
        if not dry_run:
            Scraper.objects.filter(name__in=result.undeclared).update(declared=False)
            OrchestrationLimits.load()
            OrchestrationLimits.objects.filter(pk=1).update(
                max_concurrency=config.max_concurrency,
                rate_count=config.rate_limit.count if config.rate_limit else None,
                rate_window_seconds=config.rate_limit.window_seconds if config.rate_limit else None,
                source_file=str(Path(path).resolve()), imported_at=timezone.now())
    return result


# --- pause / resume ---------------------------------------------------------------------------------


def scraper_pause(scraper: Scraper, *, minutes: float | None = None, reason: str = "paused by an operator",
                  now: dt.datetime | None = None) -> int:
    """Pause until now + minutes (default: a year — until resumed)."""
    now = now or db_now()
    until = now + dt.timedelta(minutes=minutes if minutes is not None else 365 * 24 * 60)
    return Scraper.objects.filter(pk=scraper.pk).update(paused_until=until, pause_reason=reason, updated_at=now)


def scraper_resume(scraper: Scraper) -> int:
    """An operator says the source is back: no pause, failure count reset (the breaker closes)."""
    return Scraper.objects.filter(pk=scraper.pk).update(paused_until=None, pause_reason="", consecutive_failures=0,
                                                        updated_at=timezone.now())
