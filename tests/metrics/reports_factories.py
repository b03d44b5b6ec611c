"""Row factories for the reports/admin tests (METRICS-REPORTS helper): rows are created directly,
independent of the verification service."""
import datetime as dt

from django.utils import timezone

from metrics.models import Measurement, MetricDefinition, VerificationRun

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)


def make_metric(dotted="s3.total_objects", *, kind="s3_object_count", parse_type="integer", baseline=None,
                enabled=True, precision=2, **extra) -> MetricDefinition:
    category, name = dotted.split(".", 1)
    metric = MetricDefinition.objects.create(
        category=category, name=name, kind=kind, parse_type=parse_type, precision=precision, enabled=enabled,
        params=extra.pop("params", {"location": "s3://bucket/prefix/"}),
        baseline_value=baseline, baseline_set_at=timezone.now() if baseline is not None else None, **extra,
    )
    return metric


def measure(metric, value, at, *, status="ok", severity="none", error="", run=None, drift_pct=None) -> Measurement:
    if status == "error":
        severity = "high"
        value = None
    return Measurement.objects.create(metric=metric, value=value, measured_at=at, status=status, severity=severity,
                                      error=error, run=run, drift_pct=drift_pct, baseline_value=metric.baseline_value)


def make_run(**kw) -> VerificationRun:
    return VerificationRun.objects.create(**kw)


def backdate(metric, when):
    """created_at is auto_now_add: move it explicitly."""
    MetricDefinition.objects.filter(pk=metric.pk).update(created_at=when)
    metric.refresh_from_db()
    return metric
