"""Scrapers, the global limits and ScraperRun rows (SPEC §13). Registered in the reconciliation app
(reconciliation/models.py imports this module)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from reconciliation.choices import ACTIVE_RUN_STATUSES, ScraperKind, ScraperRunStatus
from reconciliation.orchestration.rules import WINDOWS, RateLimit, is_paused


class _RateLimited(models.Model):
    rate_count = models.PositiveIntegerField(null=True, blank=True, help_text="Starts per window; empty = no limit.")
    rate_window_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def rate_limit(self) -> RateLimit | None:
        if not self.rate_count or not self.rate_window_seconds:
            return None
        return RateLimit(self.rate_count, self.rate_window_seconds)

    @property
    def rate_limit_text(self) -> str:
        limit = self.rate_limit
        return limit.text if limit else ""


class OrchestrationLimits(_RateLimited):
    """The `limits:` section (one row, pk=1). Its row is also the dispatchers' lock: every dispatch
    decision is taken while holding a write on it, so limits hold across processes and hosts."""

    max_concurrency = models.PositiveIntegerField(default=4)
    source_file = models.CharField(max_length=1024, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True, help_text="Last dispatch decision (the lock's write).")
    wake_at = models.DateTimeField(null=True, blank=True, help_text="A dispatch already waits for this moment.")

    class Meta:
        verbose_name = verbose_name_plural = "orchestration limits"

    def __str__(self):
        return "Orchestration limits"

    @classmethod
    def load(cls) -> "OrchestrationLimits":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Scraper(_RateLimited):
    name = models.CharField(max_length=150, unique=True, help_text="The name tasks carry (§5 `scraper`).")
    kind = models.CharField(max_length=10, choices=ScraperKind.choices)
    command = models.JSONField(default=list, blank=True, help_text="argv; {task_file} is replaced.")
    url = models.CharField(max_length=1024, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    timeout_minutes = models.FloatField(default=30)
    max_attempts = models.PositiveIntegerField(default=3)
    backoff_minutes = models.JSONField(default=list)
    pause_after_failures = models.PositiveIntegerField(default=5, help_text="0 = never pause.")
    pause_minutes = models.FloatField(default=60)
    enabled = models.BooleanField(default=True)
    declared = models.BooleanField(default=True, help_text="False once the scraper left the scrapers file.")
    paused_until = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def is_paused(self, now=None) -> bool:
        return is_paused(self.paused_until, now or timezone.now())


class ScraperRun(models.Model):
    """One start of a scraper on a task: what ran, how it ended, what verification found."""

    task = models.ForeignKey("reconciliation.Task", on_delete=models.CASCADE, related_name="scraper_runs")
    scraper = models.ForeignKey(Scraper, on_delete=models.CASCADE, related_name="runs")
    attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ScraperRunStatus.choices, default=ScraperRunStatus.RUNNING)
    claim = models.CharField(max_length=150, help_text="The claim (claimed_by) this run holds on its task.")
    started_at = models.DateTimeField(help_text="Database clock at the claim.")
    executing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    exit_status = models.IntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    stderr_tail = models.TextField(blank=True)
    partitions_expected = models.PositiveIntegerField(default=0)
    partitions_verified = models.PositiveIntegerField(default=0, help_text="Present (by §6) after the run.")
    partitions_missing = models.PositiveIntegerField(default=0)
    partitions_resolved = models.PositiveIntegerField(default=0, help_text="Gaps this run's verification closed.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "scraper"], name="scraperrun_active",
                         condition=models.Q(status__in=[s.value for s in ACTIVE_RUN_STATUSES])),
            models.Index(fields=["scraper", "started_at"], name="scraperrun_window"),
            models.Index(fields=["started_at"], name="scraperrun_started"),
            models.Index(fields=["task", "-started_at"], name="scraperrun_task"),
        ]

    def __str__(self):
        return f"{self.scraper_id} run {self.pk} attempt {self.attempt} ({self.status})"


__all__ = ["OrchestrationLimits", "Scraper", "ScraperRun", "WINDOWS"]
