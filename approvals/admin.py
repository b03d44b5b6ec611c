"""Django admin: the review queue of approval requests and its decision history.

* The changelist shows *pending* requests by default (a "Status" filter with an "All" choice shows the
  history), critical first, then oldest first.
* Every field is read-only: no add, no edit, no delete — a request changes only by a decision.
* The change URL renders the review page (approvals/views.py); deciding needs the permission
  "approvals.review_approvalrequest", checked on the server for the page's POST and the bulk actions.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.html import format_html

from .choices import ApprovalStatus
from .models import ApprovalRequest
from .selectors import QUEUE_ORDER, SEVERITY_RANK_EXPR
from .services import REVIEW_PERMISSION, ApprovalError, approval_request_accept, approval_request_reject
from .views import review_view

DECISION_ACTIONS = ("approve_selected", "reject_selected")


class StatusFilter(admin.SimpleListFilter):
    """Pending by default — the queue — while every decision stays one click away."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*ApprovalStatus.choices, (self.ALL, "All")]

    def queryset(self, request, queryset):
        value = self.value() or ApprovalStatus.PENDING
        if value == self.ALL:
            return queryset
        return queryset.filter(status=value)

    def choices(self, changelist):
        current = self.value() or ApprovalStatus.PENDING
        for value, label in self.lookup_choices:
            yield {
                "selected": current == str(value),
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "review_link", "severity", "baseline_value", "proposed_value", "drift_display",
                    "raised_by", "raised_at", "status", "reviewer", "reviewed_at", "applied")
    list_display_links = ("id",)
    list_filter = (StatusFilter, "severity", "applied", "metric__category")
    search_fields = ("metric__category", "metric__name", "raised_by", "reviewer", "notes")
    list_select_related = ("metric",)
    date_hierarchy = "raised_at"
    actions = DECISION_ACTIONS

    # ------------------------------------------------------------ permissions
    def has_add_permission(self, request):
        return False  # requests are raised by verify/update only

    def has_change_permission(self, request, obj=None):
        return False  # no arbitrary edits: a request changes only through a decision

    def has_delete_permission(self, request, obj=None):
        return False  # every decision is kept as history

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.has_review_permission(request)

    def has_review_permission(self, request):
        return request.user.is_active and request.user.has_perm(REVIEW_PERMISSION)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    # ------------------------------------------------------------ the queue
    def get_queryset(self, request):
        # Annotate before ordering (the stock get_queryset orders first and would not know the rank).
        qs = self.model._default_manager.get_queryset().annotate(severity_rank=SEVERITY_RANK_EXPR)
        return qs.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return list(QUEUE_ORDER)

    @admin.display(description="metric", ordering="metric__category")
    def review_link(self, obj):
        url = reverse(f"{self.admin_site.name}:approvals_approvalrequest_review", args=[obj.pk])
        label = "review" if obj.status == ApprovalStatus.PENDING else "details"
        return format_html('<a href="{}">{}</a> ({})', url, obj.metric.full_name, label)

    @admin.display(description="drift %", ordering="drift_pct")
    def drift_display(self, obj):
        return "—" if obj.drift_pct is None else f"{obj.drift_pct:.2f}"

    # ------------------------------------------------------------ review page
    def get_urls(self):
        info = (self.opts.app_label, self.opts.model_name)
        custom = [
            path("<path:object_id>/review/",
                 self.admin_site.admin_view(lambda request, object_id: review_view(self, request, object_id)),
                 name="%s_%s_review" % info),
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The change URL *is* the review page; the stock form (edits) is never served.
        return review_view(self, request, object_id)

    # ------------------------------------------------------------ bulk decisions
    def changelist_view(self, request, extra_context=None):
        # The actions are hidden from users without the permission; a forged POST gets 403, not a no-op.
        if (request.method == "POST" and request.POST.get("action") in DECISION_ACTIONS
                and not self.has_review_permission(request)):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def _bulk(self, request, queryset, service, verb):
        if not self.has_review_permission(request):
            raise PermissionDenied
        done, refused = [], []
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                service(pk, reviewer=request.user.get_username(), user=request.user,
                        notes=f"{verb} with the admin bulk action")
                done.append(f"#{pk}")
            except (ApprovalError, PermissionDenied) as exc:
                refused.append(str(exc) or f"#{pk}: refused")
        if done:
            self.message_user(request, f"{verb.capitalize()}: {', '.join(done)}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Approve selected requests (apply proposed baselines)", permissions=["review"])
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, approval_request_accept, "approved")

    @admin.action(description="Reject selected requests (keep baselines)", permissions=["review"])
    def reject_selected(self, request, queryset):
        self._bulk(request, queryset, approval_request_reject, "rejected")
