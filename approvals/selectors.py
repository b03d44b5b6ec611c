"""Reads of the approval workflow: the review queue, one request's details, its metric's history."""
from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from metrics.choices import DriftStatus, Severity
from metrics.models import Measurement

from .choices import ApprovalStatus
from .models import ApprovalRequest
from .services import stale_reason

# Case/When over the stored severity word so the database can sort "critical first".
SEVERITY_RANK_EXPR = Case(
    *(When(severity=s, then=Value(s.rank)) for s in Severity),
    default=Value(-1), output_field=IntegerField(),
)
# Critical first, then the oldest first (longest waiting), pk last for a stable order.
QUEUE_ORDER = ("-severity_rank", "raised_at", "pk")


def approval_requests_ranked(qs: QuerySet | None = None) -> QuerySet:
    qs = ApprovalRequest.objects.all() if qs is None else qs
    return qs.annotate(severity_rank=SEVERITY_RANK_EXPR)


def approval_requests_pending() -> QuerySet:
    """The review queue: pending requests, critical first, then by age."""
    return (approval_requests_ranked(ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING))
            .select_related("metric", "run", "measurement").order_by(*QUEUE_ORDER))


def approval_request_get(request_id) -> ApprovalRequest | None:
    try:
        return (ApprovalRequest.objects.select_related("metric", "run", "measurement", "reviewer_user")
                .get(pk=int(request_id)))
    except (ApprovalRequest.DoesNotExist, ValueError, TypeError):
        return None


def metric_recent_measurements(metric, *, limit: int = 20) -> list[Measurement]:
    """Newest first."""
    return list(Measurement.objects.filter(metric=metric).order_by("-measured_at", "-pk")[:limit])


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_history_points(metric, *, limit: int = 200) -> tuple[list[tuple], list]:
    """The newest `limit` measurements for the chart, oldest first: ([(measured_at, number)], [error times])."""
    rows = list(Measurement.objects.filter(metric=metric).order_by("-measured_at", "-pk")
                .values_list("measured_at", "value", "status")[:limit])[::-1]
    points = [(at, v) for at, v, status in rows if status != DriftStatus.ERROR and is_number(v)]
    errors = [at for at, _, status in rows if status == DriftStatus.ERROR]
    return points, errors


def approval_request_document(req: ApprovalRequest) -> dict:
    """The JSON shape of one request (CLI --json and the review page agree on it)."""
    metric = req.metric
    return {
        "id": req.pk,
        "metric": metric.full_name,
        "status": req.status,
        "severity": req.severity,
        "baseline": req.baseline_value,
        "current_baseline": metric.baseline_value,
        "proposed": req.proposed_value,
        "drift_pct": req.drift_pct,
        "parse_type": metric.parse_type,
        "raised_by": req.raised_by,
        "raised_at": req.raised_at,
        "updated_at": req.updated_at,
        "measurement_id": req.measurement_id,
        "run_id": req.run_id,
        "reviewer": req.reviewer or None,
        "reviewed_at": req.reviewed_at,
        "notes": req.notes,
        "applied": req.applied,
        "stale": stale_reason(req, metric) if req.status == ApprovalStatus.PENDING else None,
    }


def measurement_document(m: Measurement) -> dict:
    return {"id": m.pk, "measured_at": m.measured_at, "value": m.value, "baseline": m.baseline_value,
            "status": m.status, "severity": m.severity, "drift_pct": m.drift_pct, "run_id": m.run_id,
            "applied": m.applied, "error": m.error or None}
