"""Metric definitions, their accepted baselines, every measurement, runs and snapshots.

Values are stored in JSONField so that they keep their type end to end: an integer measured
by a probe is an integer in the database, in `--json` output and in the admin.
"""
from django.db import models
from django.utils import timezone

from adce_site.runs import RunRecord

from .choices import DriftStatus, MetricKind, ParseType, Severity, Trigger, Volatility


class MetricsSettings(models.Model):
    """The non-metric sections of the imported YAML (one row, pk=1)."""

    minor_drift_pct = models.FloatField(default=5.0)
    moderate_drift_pct = models.FloatField(default=15.0)
    major_drift_pct = models.FloatField(default=25.0)
    approval_enabled = models.BooleanField(default=True)
    require_approval_threshold = models.FloatField(default=15.0)
    critical_patterns = models.JSONField(default=list, blank=True)
    default_ttl_hours = models.FloatField(default=24.0)
    # `events:` section (cooldown_seconds, hooks) kept verbatim for the events app.
    events_config = models.JSONField(default=dict, blank=True)
    source_file = models.CharField(max_length=1024, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "metrics settings"
        verbose_name_plural = "metrics settings"

    def __str__(self):
        return "Metrics settings"

    @classmethod
    def load(cls) -> "MetricsSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class MetricDefinition(models.Model):
    category = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=40, choices=MetricKind.choices)
    params = models.JSONField(default=dict, blank=True)
    parse_type = models.CharField(max_length=10, choices=ParseType.choices)
    precision = models.PositiveSmallIntegerField(default=2)
    volatility = models.CharField(max_length=10, choices=Volatility.choices, default=Volatility.STABLE)
    # Effective criticality: declared `critical: true` or matched by approval.critical_metrics.
    critical = models.BooleanField(default=False)
    ttl_hours = models.FloatField(null=True, blank=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    source_file = models.CharField(max_length=1024, blank=True)

    baseline_value = models.JSONField(null=True, blank=True)
    baseline_set_at = models.DateTimeField(null=True, blank=True)
    baseline_set_by = models.CharField(max_length=150, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [models.UniqueConstraint(fields=["category", "name"], name="metric_unique_dotted_name")]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.category}.{self.name}"

    @property
    def has_baseline(self) -> bool:
        return self.baseline_set_at is not None


class VerificationRun(RunRecord):
    run_kind = "verify"

    trigger = models.CharField(max_length=40, default=Trigger.MANUAL)
    update = models.BooleanField(default=False, help_text="Whether drift was applied to baselines.")
    options = models.JSONField(default=dict, blank=True)
    # summary: counts by status, e.g. {"total": 12, "ok": 10, "minor": 1, "error": 1, "pending_approval": 0}

    def __str__(self):
        return f"Verification #{self.pk} ({self.trigger}, {self.status})"


class Measurement(models.Model):
    """One probe result: the full history of every metric."""

    metric = models.ForeignKey(MetricDefinition, on_delete=models.CASCADE, related_name="measurements")
    run = models.ForeignKey(VerificationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="measurements")
    measured_at = models.DateTimeField(default=timezone.now)
    value = models.JSONField(null=True, blank=True)
    baseline_value = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=DriftStatus.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    drift_pct = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    from_cache = models.BooleanField(default=False)
    applied = models.BooleanField(default=False, help_text="This value became the baseline.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-measured_at"]
        indexes = [models.Index(fields=["metric", "-measured_at"], name="measurement_metric_time")]

    def __str__(self):
        return f"{self.metric} = {self.value!r} ({self.status})"


class CacheEntry(models.Model):
    """The last successful value of a metric, reused by verify until it expires."""

    metric = models.OneToOneField(MetricDefinition, on_delete=models.CASCADE, related_name="cache_entry")
    value = models.JSONField(null=True)
    measured_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "cache entries"

    def __str__(self):
        return f"cache of {self.metric}"


class Snapshot(models.Model):
    """Values of all enabled metrics on a date (one per date; re-taking replaces it)."""

    date = models.DateField(unique=True)
    taken_at = models.DateTimeField(default=timezone.now)
    values = models.JSONField(default=dict)  # {"cat.name": typed value or null}

    class Meta:
        ordering = ["-date"]

    def __str__(self):
        return f"Snapshot {self.date.isoformat()}"
