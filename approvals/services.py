"""Writes of the approval workflow (SPEC §4 approval rule, issue 4 item 1).

Invariants kept here (and by the partial unique constraint on the model):
* at most one *pending* request per metric; a later measurement updates it in place;
* a decided request is never decided again — a conditional UPDATE ... WHERE status='pending' plus a
  row lock make two simultaneous reviewers race to exactly one winner;
* whoever raised a request cannot decide it ("system" raises the requests of verify/update);
* accepting applies the typed proposed value via `metrics.services.baseline_apply` in the same
  transaction as the status change, so a baseline never moves without an approved request and vice versa.

Lock order is always metric row → request row (the same order verify uses when it holds the metric
and opens a request), so an accept and a verify on the same metric never deadlock.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics.choices import DriftStatus
from metrics.models import MetricDefinition

from .choices import ApprovalStatus
from .models import SYSTEM_RAISER, ApprovalRequest

REVIEW_PERMISSION = "approvals.review_approvalrequest"


class ApprovalError(ValueError):
    """A decision that cannot be made; the message is one line naming the request."""


class ApprovalNotFound(ApprovalError):
    pass


class ApprovalAlreadyDecided(ApprovalError):
    pass


class ApprovalSelfReview(ApprovalError):
    pass


class ApprovalSuperseded(ApprovalError):
    pass


class ApprovalBadReviewer(ApprovalError):
    pass


# --------------------------------------------------------------------------- opening

def approval_request_open_or_update(*, metric, proposed_value, baseline_value, drift_pct, severity,
                                    measurement=None, run=None, raised_by: str = SYSTEM_RAISER) -> ApprovalRequest:
    """Open the pending request of `metric`, or refresh the one already pending.

    The pending request always carries the *latest* proposal: value, baseline at that moment, drift,
    severity, the measurement and run that raised it, and who raised it (the latest raiser is the one
    who may not decide it). `raised_at` keeps the first raise so the review queue's age is honest.
    """
    fields = {
        "proposed_value": proposed_value,
        "baseline_value": baseline_value,
        "drift_pct": drift_pct,
        "severity": str(severity),
        "measurement": measurement,
        "run": run,
        "raised_by": (raised_by or SYSTEM_RAISER).strip() or SYSTEM_RAISER,
    }
    with transaction.atomic():
        # Serialise per metric (same lock order as accept/reject).
        list(MetricDefinition.objects.select_for_update().filter(pk=metric.pk).values_list("pk", flat=True))
        pending = ApprovalRequest.objects.select_for_update().filter(
            metric_id=metric.pk, status=ApprovalStatus.PENDING).first()
        if pending is None:
            try:
                # Savepoint: if a concurrent opener won (e.g. on SQLite, where the metric lock is a
                # no-op), the partial unique constraint fires and we update the winner's row instead.
                with transaction.atomic():
                    return ApprovalRequest.objects.create(metric_id=metric.pk, **fields)
            except IntegrityError:
                pending = ApprovalRequest.objects.select_for_update().get(
                    metric_id=metric.pk, status=ApprovalStatus.PENDING)
        for name, value in fields.items():
            setattr(pending, name, value)
        pending.save(update_fields=[*fields, "updated_at"])
        return pending


# --------------------------------------------------------------------------- superseding

def approval_requests_supersede(metric, *, reason: str = "") -> int:
    """Mark the metric's pending request superseded (its proposal no longer applies).

    For callers that move a baseline by another path (an explicit `baseline_apply` outside the
    approval workflow, a re-import that disables the metric). Returns how many were superseded.
    """
    note = reason or "the baseline was changed by another path"
    if not note.startswith("superseded"):
        note = f"superseded: {note}"
    return ApprovalRequest.objects.filter(metric_id=metric.pk, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.SUPERSEDED, reviewed_at=timezone.now(), notes=note, updated_at=timezone.now())


def stale_reason(request: ApprovalRequest, metric: MetricDefinition) -> str | None:
    """Why a pending request can no longer be decided, or None.

    A request is stale when
    * its metric was disabled;
    * the metric's baseline is no longer the one the request was raised against (someone moved it by
      another path): accepting would silently overwrite that change, rejecting would claim to keep a
      baseline that is already gone;
    * a later measurement found the metric back within the approval threshold of its baseline: the
      proposal describes a drift that is over, and accepting it would move the baseline away from
      what the lake holds now.
    """
    if not metric.enabled:
        return "its metric is disabled"
    if metric.baseline_value != request.baseline_value:
        return (f"the baseline of {metric.full_name} changed from {request.baseline_value!r} to "
                f"{metric.baseline_value!r} since it was raised")
    return back_within_threshold(request, metric)


def back_within_threshold(request: ApprovalRequest, metric: MetricDefinition, latest=None,
                          threshold: float | None = None) -> str | None:
    """The reason when the metric's newest measurement (`latest`, else read) is later than the
    request's own and within the approval threshold of the baseline (`threshold`, else the
    settings'), else None. "ok" counts as within (a string metric back to its baseline has no drift %)."""
    from metrics.models import Measurement, MetricsSettings

    if latest is None:
        latest = Measurement.objects.filter(metric_id=metric.pk).order_by("-measured_at", "-pk").first()
    if latest is None or latest.pk == request.measurement_id or latest.error or latest.status == DriftStatus.ERROR:
        return None
    if request.measurement is not None and latest.measured_at < request.measurement.measured_at:
        return None
    if threshold is None:
        threshold = MetricsSettings.load().require_approval_threshold
    if latest.status != DriftStatus.OK and (latest.drift_pct is None or latest.drift_pct >= threshold):
        return None
    drift = "unchanged" if latest.drift_pct is None else f"drift {latest.drift_pct:.2f} %"
    return (f"{metric.full_name} is back within the {threshold:g} % approval threshold: measured {latest.value!r} "
            f"({drift}) at {latest.measured_at:%Y-%m-%d %H:%M} UTC"
            + (f" in verification run #{latest.run_id}" if latest.run_id else ""))


# --------------------------------------------------------------------------- deciding

def _norm(name: str) -> str:
    return (name or "").strip().casefold()


def _lock(request_id) -> tuple[MetricDefinition, ApprovalRequest]:
    """Lock the request's metric row, then the request row (the order verify uses); inside a transaction."""
    try:
        metric_id = ApprovalRequest.objects.values_list("metric_id", flat=True).get(pk=request_id)
    except (ApprovalRequest.DoesNotExist, ValueError, TypeError):
        raise ApprovalNotFound(f"approval request #{request_id} does not exist") from None
    metric = MetricDefinition.objects.select_for_update().get(pk=metric_id)
    # No select_related here: PostgreSQL refuses FOR UPDATE on the nullable side of an outer join.
    request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
    return metric, request


def _decide(request_id, *, approve: bool, reviewer: str, user=None, notes: str = "") -> ApprovalRequest:
    if user is not None and not user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{user.get_username()} lacks the permission {REVIEW_PERMISSION}")
    reviewer = (reviewer or "").strip() or (user.get_username() if user is not None else "")
    if not reviewer:
        raise ApprovalBadReviewer("a reviewer name is required")
    if _norm(reviewer) == _norm(SYSTEM_RAISER):
        raise ApprovalBadReviewer(f"reviewer {reviewer!r} is reserved for automatic raises; name a person")

    superseded: str | None = None
    with transaction.atomic():
        metric, request = _lock(request_id)
        if request.status != ApprovalStatus.PENDING:
            by = f" by {request.reviewer}" if request.reviewer else ""
            raise ApprovalAlreadyDecided(f"approval request #{request.pk} is already {request.status}{by}")
        raisers = {_norm(request.raised_by)}
        if _norm(reviewer) in raisers or (user is not None and _norm(user.get_username()) in raisers):
            raise ApprovalSelfReview(
                f"approval request #{request.pk} was raised by {request.raised_by}; its raiser cannot decide it")
        superseded = stale_reason(request, metric)
        now = timezone.now()
        if superseded:
            ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
                status=ApprovalStatus.SUPERSEDED, reviewed_at=now, updated_at=now, notes=f"superseded: {superseded}")
        else:
            # The conditional UPDATE is the decision itself: with the row lock above it is redundant on
            # PostgreSQL, but it keeps "exactly one wins" true on backends without SELECT ... FOR UPDATE.
            won = ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
                status=ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED,
                reviewer=reviewer, reviewer_user=user, reviewed_at=now, notes=notes or "",
                applied=approve, updated_at=now)
            if won != 1:
                raise ApprovalAlreadyDecided(f"approval request #{request.pk} was decided by someone else")
            if approve:
                from metrics.services import baseline_apply  # late: metrics.services imports this module

                try:
                    baseline_apply(metric, request.proposed_value, by=reviewer, measurement=request.measurement)
                except ApprovalError:
                    raise
                except ValueError as exc:  # the proposal cannot be typed as the metric's parse_type
                    raise ApprovalError(f"approval request #{request.pk}: {exc}") from None
    if superseded:
        # Committed on purpose: the request is obsolete whatever the reviewer wanted.
        raise ApprovalSuperseded(f"approval request #{request_id} is superseded: {superseded}")
    request.refresh_from_db()
    return request


def approval_request_close_stale(request_id, *, user=None) -> str:
    """Close a pending request that went stale as superseded (the review page's button); returns the
    reason. Refuses (ApprovalError) a request that is not pending or not stale: that one needs a decision."""
    if user is not None and not user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{user.get_username()} lacks the permission {REVIEW_PERMISSION}")
    with transaction.atomic():
        metric, request = _lock(request_id)
        if request.status != ApprovalStatus.PENDING:
            raise ApprovalAlreadyDecided(f"approval request #{request.pk} is already {request.status}")
        reason = stale_reason(request, metric)
        if not reason:
            raise ApprovalError(f"approval request #{request.pk} is not stale: approve or reject it")
        now = timezone.now()
        ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.SUPERSEDED, reviewed_at=now, updated_at=now, notes=f"superseded: {reason}")
    return reason


def approval_request_accept(request_id, *, reviewer: str, user=None, notes: str = "") -> ApprovalRequest:
    """Approve: apply the typed proposed value as the metric's baseline, record who/when/notes."""
    return _decide(request_id, approve=True, reviewer=reviewer, user=user, notes=notes)


def approval_request_reject(request_id, *, reviewer: str, user=None, notes: str = "") -> ApprovalRequest:
    """Reject: the baseline stays as it was; record who/when/notes."""
    return _decide(request_id, approve=False, reviewer=reviewer, user=user, notes=notes)
