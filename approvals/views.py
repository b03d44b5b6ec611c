"""The admin review page of one approval request (GET read-only, POST decides).

Mounted by `ApprovalRequestAdmin.get_urls` under the admin site (so it inherits the admin login and
CSRF protection); the permission checks live here, on the server, not only in the template.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from metrics.charts import line_chart_svg

from .choices import ApprovalStatus
from .selectors import (approval_request_document, approval_request_get, is_number, metric_history_points,
                        metric_recent_measurements)
from .services import (REVIEW_PERMISSION, ApprovalError, ApprovalSelfReview, ApprovalSuperseded,
                       approval_request_accept, approval_request_close_stale, approval_request_reject)


def decision_blocker(req, user) -> str | None:
    """Why `user` may not decide `req` (None when they may). Mirrors the service's checks for the UI."""
    if not user.has_perm(REVIEW_PERMISSION):
        return "You lack the permission “Can review approval requests”."
    if req.status != ApprovalStatus.PENDING:
        return f"This request is already {req.status}."
    if (req.raised_by or "").strip().casefold() == user.get_username().strip().casefold():
        return "You raised this request, so someone else must decide it."
    return None


def history_chart_svg(metric, *, limit: int = 200) -> str:
    """The metric's measured values over time (errors as red ticks, baseline dashed) as inline SVG."""
    points, errors = metric_history_points(metric, limit=limit)
    baseline = metric.baseline_value if is_number(metric.baseline_value) else None
    return line_chart_svg(points, title=f"{metric.full_name} — last {len(points)} values",
                          errors=errors, baseline=baseline)


def review_view(model_admin, request, object_id):
    req = approval_request_get(object_id)
    if req is None:
        raise Http404(f"approval request {object_id!r} does not exist")
    if request.method == "POST":
        return _decide(model_admin, request, req)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not model_admin.has_view_permission(request, req):
        raise PermissionDenied
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Review approval request #{req.pk}",
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "original": req,
        "req": req,
        "doc": approval_request_document(req),
        "metric": req.metric,
        "chart_svg": mark_safe(history_chart_svg(req.metric)),  # line_chart_svg escapes every text
        "recent": metric_recent_measurements(req.metric, limit=15),
        "blocker": decision_blocker(req, request.user),
        "has_view_permission": True,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/approvals/approvalrequest/review.html", context)


def _decide(model_admin, request, req):
    # Server-side gate: a staff user without the permission changes nothing, whatever the page showed.
    if not model_admin.has_review_permission(request):
        raise PermissionDenied
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject", "close"):
        messages.error(request, "Choose Approve or Reject.")
        return HttpResponseRedirect(request.path)
    if decision == "close":  # a stale request: nothing to decide, only to record as superseded
        try:
            reason = approval_request_close_stale(req.pk, user=request.user)
        except ApprovalError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        messages.success(request, f"Approval request #{req.pk} ({req.metric.full_name}) closed as superseded: {reason}.")
        return HttpResponseRedirect(reverse(f"{model_admin.admin_site.name}:approvals_approvalrequest_changelist"))
    service = approval_request_accept if decision == "approve" else approval_request_reject
    try:
        service(req.pk, reviewer=request.user.get_username(), user=request.user,
                notes=request.POST.get("notes", "").strip())
    except ApprovalSelfReview:
        raise PermissionDenied from None
    except ApprovalSuperseded as exc:  # went stale: recorded as superseded, nothing applied
        messages.error(request, f"{exc}. Nothing was applied; the baseline is unchanged.")
        return HttpResponseRedirect(request.path)
    except ApprovalError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(request.path)
    verb = "approved — the new baseline is applied" if decision == "approve" else "rejected — the baseline is unchanged"
    messages.success(request, f"Approval request #{req.pk} ({req.metric.full_name}) {verb}.")
    return HttpResponseRedirect(reverse(f"{model_admin.admin_site.name}:approvals_approvalrequest_changelist"))
