"""Reads over metric history: latest values, history series with statistics, snapshot diffs.

Conventions (docs/reports.md):
* The *current value* of a metric is the value of its latest measurement when that measurement
  succeeded, and None when it was never measured or its latest measurement is an error: an error
  is not a number, and carrying an older value forward would hide it.
* Statistics are over successful numeric measurements only; the standard deviation is the
  *population* one (the window is the whole set being described, not a sample of it).
* A percentage change from 0 is undefined and reported as None.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from .choices import DriftStatus, ParseType
from .models import Measurement, MetricDefinition, Snapshot

NUMERIC_PARSE_TYPES = (ParseType.INTEGER, ParseType.FLOAT)  # the ones that get charts and stats
PCT_DECIMALS = 2
STAT_DECIMALS = 4


class MetricNotFound(LookupError):
    pass


class SnapshotNotFound(LookupError):
    def __init__(self, date: dt.date, nearest: list[dt.date]):
        self.date = date
        self.nearest = nearest
        listed = ", ".join(d.isoformat() for d in nearest) or "none"
        super().__init__(f"no snapshot for {date.isoformat()} (nearest snapshots: {listed})")


# --- small numeric helpers -------------------------------------------------------------------

def is_number(value: Any) -> bool:
    # bool is an int subclass but a boolean metric has no arithmetic.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def value_delta(old: Any, new: Any, precision: int = 2) -> int | float | None:
    if not (is_number(old) and is_number(new)):
        return None
    delta = new - old
    # int − int stays int; float noise (0.1+0.2) is cut at the metric's precision.
    return delta if isinstance(delta, int) else round(delta, precision)


def value_delta_pct(old: Any, new: Any) -> float | None:
    if not (is_number(old) and is_number(new)) or old == 0:
        return None
    return round((new - old) / abs(old) * 100, PCT_DECIMALS)


def full_name_parts(dotted: str) -> tuple[str, str]:
    category, sep, name = dotted.partition(".")
    if not sep or not category or not name:
        raise MetricNotFound(f"{dotted!r}: expected CATEGORY.NAME")
    return category, name


def metric_get(dotted: str) -> MetricDefinition:
    category, name = full_name_parts(dotted)
    try:
        return MetricDefinition.objects.get(category=category, name=name)
    except MetricDefinition.DoesNotExist:
        raise MetricNotFound(f"unknown metric {dotted!r}") from None


# --- latest measurements -----------------------------------------------------------------------

def _latest_measurement_subquery(as_of: dt.datetime | None = None):
    qs = Measurement.objects.filter(metric=OuterRef("pk"))
    if as_of is not None:
        qs = qs.filter(measured_at__lte=as_of)
    return qs.order_by("-measured_at", "-pk")


def metrics_with_latest(queryset=None, *, as_of: dt.datetime | None = None):
    """Definitions annotated with `latest_id`, `latest_value`, `latest_status`, `latest_severity`,
    `latest_drift_pct`, `latest_measured_at`, `latest_error` — one query, no N+1."""
    from django.db.models import CharField, DateTimeField, FloatField, JSONField, TextField

    qs = MetricDefinition.objects.all() if queryset is None else queryset
    latest = _latest_measurement_subquery(as_of)
    return qs.annotate(
        latest_id=Subquery(latest.values("pk")[:1]),
        latest_value=Subquery(latest.values("value")[:1], output_field=JSONField()),
        latest_status=Subquery(latest.values("status")[:1], output_field=CharField()),
        latest_severity=Subquery(latest.values("severity")[:1], output_field=CharField()),
        latest_drift_pct=Subquery(latest.values("drift_pct")[:1], output_field=FloatField()),
        latest_measured_at=Subquery(latest.values("measured_at")[:1], output_field=DateTimeField()),
        latest_error=Subquery(latest.values("error")[:1], output_field=TextField()),
    )


def current_value_of(metric: MetricDefinition) -> Any:
    """Current value of an annotated metric (see module docstring)."""
    if metric.latest_id is None or metric.latest_status == DriftStatus.ERROR:
        return None
    return metric.latest_value


def current_values(*, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """{"cat.name": current value} for every enabled metric, in name order.

    With `as_of`, the values as they were then: measurements after it are ignored, and metrics
    created after it with no measurement before it are left out."""
    qs = metrics_with_latest(MetricDefinition.objects.filter(enabled=True), as_of=as_of)
    if as_of is not None:
        # A metric defined later but with measurements back then (imported history) still counts.
        qs = qs.filter(Q(created_at__lte=as_of) | Q(latest_id__isnull=False))
    return {m.full_name: current_value_of(m) for m in qs}


# --- history -----------------------------------------------------------------------------------

@dataclass
class HistoryPoint:
    measured_at: dt.datetime
    value: Any
    status: str
    severity: str
    error: str
    delta: int | float | None = None       # against the previous successful measurement
    delta_pct: float | None = None
    run_id: int | None = None

    @property
    def is_error(self) -> bool:
        return self.status == DriftStatus.ERROR


@dataclass
class Trend:
    first: Any = None
    last: Any = None
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    change: int | float | None = None
    change_pct: float | None = None
    direction: str = "none"            # up | down | flat | changed | none


@dataclass
class Stats:
    count: int = 0                     # successful numeric measurements
    min: int | float | None = None
    max: int | float | None = None
    mean: float | None = None
    stddev: float | None = None        # population standard deviation
    errors: int = 0


@dataclass
class History:
    metric: str
    days: int
    since: dt.datetime
    until: dt.datetime
    parse_type: str
    baseline: Any
    points: list[HistoryPoint] = field(default_factory=list)
    trend: Trend = field(default_factory=Trend)
    stats: Stats = field(default_factory=Stats)

    def as_dict(self) -> dict:
        doc = asdict(self)
        doc["stats"]["stddev_kind"] = "population"
        return doc

    def numeric_series(self) -> list[tuple[dt.datetime, int | float]]:
        return [(p.measured_at, p.value) for p in self.points if not p.is_error and is_number(p.value)]


def series_stats(values: list[int | float]) -> Stats:
    if not values:
        return Stats()
    mean = math.fsum(values) / len(values)
    variance = math.fsum((v - mean) ** 2 for v in values) / len(values)
    return Stats(
        count=len(values),
        min=min(values),
        max=max(values),
        mean=round(mean, STAT_DECIMALS),
        stddev=round(math.sqrt(variance), STAT_DECIMALS),
    )


def history_from_points(points: list[HistoryPoint], precision: int = 2) -> tuple[Trend, Stats]:
    """Fill deltas in place (errors get none and are skipped over) and compute trend and stats."""
    previous = None
    good: list[HistoryPoint] = []
    for point in points:
        if point.is_error:
            continue
        if previous is not None:
            point.delta = value_delta(previous.value, point.value, precision)
            point.delta_pct = value_delta_pct(previous.value, point.value)
        previous = point
        good.append(point)

    trend = Trend()
    if good:
        first, last = good[0], good[-1]
        trend.first, trend.last = first.value, last.value
        trend.first_at, trend.last_at = first.measured_at, last.measured_at
        trend.change = value_delta(first.value, last.value, precision)
        trend.change_pct = value_delta_pct(first.value, last.value)
        if trend.change is not None:
            trend.direction = "up" if trend.change > 0 else "down" if trend.change < 0 else "flat"
        else:
            trend.direction = "flat" if first.value == last.value else "changed"

    stats = series_stats([p.value for p in good if is_number(p.value)])
    stats.errors = sum(1 for p in points if p.is_error)
    return trend, stats


def metric_history(metric: MetricDefinition | str, days: int, *, now: dt.datetime | None = None) -> History:
    """Measurements of the last `days` days (oldest first) with deltas, trend and stats."""
    if isinstance(metric, str):
        metric = metric_get(metric)
    if days < 1:
        raise ValueError("days must be at least 1")
    until = now or timezone.now()
    since = until - dt.timedelta(days=days)
    rows = (
        Measurement.objects.filter(metric=metric, measured_at__gte=since, measured_at__lte=until)
        .order_by("measured_at", "pk")
        .values_list("measured_at", "value", "status", "severity", "error", "run_id")
    )
    points = [
        HistoryPoint(measured_at=at, value=None if status == DriftStatus.ERROR else value, status=status,
                     severity=severity, error=error, run_id=run_id)
        for at, value, status, severity, error, run_id in rows
    ]
    trend, stats = history_from_points(points, metric.precision)
    return History(metric=metric.full_name, days=days, since=since, until=until, parse_type=metric.parse_type,
                   baseline=metric.baseline_value, points=points, trend=trend, stats=stats)


def histories(metrics: Iterable[MetricDefinition], days: int, *, now: dt.datetime | None = None) -> dict[int, History]:
    """History of several metrics in one query (for reports)."""
    metrics = list(metrics)
    until = now or timezone.now()
    since = until - dt.timedelta(days=days)
    by_id: dict[int, list[HistoryPoint]] = {m.pk: [] for m in metrics}
    rows = (
        Measurement.objects.filter(metric__in=metrics, measured_at__gte=since, measured_at__lte=until)
        .order_by("metric_id", "measured_at", "pk")
        .values_list("metric_id", "measured_at", "value", "status", "severity", "error", "run_id")
    )
    for metric_id, at, value, status, severity, error, run_id in rows.iterator():
        by_id[metric_id].append(HistoryPoint(measured_at=at, value=None if status == DriftStatus.ERROR else value,
                                             status=status, severity=severity, error=error, run_id=run_id))
    result = {}
    for m in metrics:
        trend, stats = history_from_points(by_id[m.pk], m.precision)
        result[m.pk] = History(metric=m.full_name, days=days, since=since, until=until, parse_type=m.parse_type,
                               baseline=m.baseline_value, points=by_id[m.pk], trend=trend, stats=stats)
    return result


# --- snapshots and diff ------------------------------------------------------------------------

def snapshot_nearest_dates(date: dt.date, limit: int = 3) -> list[dt.date]:
    """The closest snapshot dates before and after `date` (up to `limit` each side), sorted."""
    before = list(Snapshot.objects.filter(date__lt=date).order_by("-date").values_list("date", flat=True)[:limit])
    after = list(Snapshot.objects.filter(date__gt=date).order_by("date").values_list("date", flat=True)[:limit])
    return sorted(before + after)


def snapshot_get(date: dt.date) -> Snapshot:
    try:
        return Snapshot.objects.get(date=date)
    except Snapshot.DoesNotExist:
        raise SnapshotNotFound(date, snapshot_nearest_dates(date)) from None


@dataclass
class DiffRow:
    metric: str
    then: Any
    now: Any
    delta: int | float | None
    delta_pct: float | None
    change: str        # added | removed | changed | unchanged


@dataclass
class Diff:
    since: dt.date
    snapshot_taken_at: dt.datetime
    rows: list[DiffRow]

    @property
    def added(self) -> list[str]:
        return [r.metric for r in self.rows if r.change == "added"]

    @property
    def removed(self) -> list[str]:
        return [r.metric for r in self.rows if r.change == "removed"]

    def as_dict(self) -> dict:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.change] = counts.get(r.change, 0) + 1
        return {
            "since": self.since,
            "snapshot_taken_at": self.snapshot_taken_at,
            "summary": counts,
            "added": self.added,
            "removed": self.removed,
            "metrics": [asdict(r) for r in self.rows],
        }


def snapshot_diff(date: dt.date) -> Diff:
    """Current values of the enabled metrics against the snapshot of `date` (exact date)."""
    snapshot = snapshot_get(date)
    then_values = snapshot.values or {}
    now_values = current_values()
    precisions = dict(
        ((c + "." + n), p) for c, n, p in MetricDefinition.objects.values_list("category", "name", "precision")
    )
    rows = []
    for name in sorted(set(then_values) | set(now_values)):
        if name not in then_values:
            rows.append(DiffRow(name, None, now_values[name], None, None, "added"))
        elif name not in now_values:
            rows.append(DiffRow(name, then_values[name], None, None, None, "removed"))
        else:
            then, now = then_values[name], now_values[name]
            same = then == now and type(then) is type(now) or (is_number(then) and is_number(now) and then == now)
            rows.append(DiffRow(name, then, now, value_delta(then, now, precisions.get(name, 2)),
                                value_delta_pct(then, now), "unchanged" if same else "changed"))
    return Diff(since=date, snapshot_taken_at=snapshot.taken_at, rows=rows)


def latest_measurements_status_q(status: str) -> Q:
    """Filter for `metrics_with_latest` querysets by the latest measurement's status."""
    if status == "never":
        return Q(latest_id__isnull=True)
    return Q(latest_status=status)
