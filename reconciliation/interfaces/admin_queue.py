"""Admin of the gap lifecycle and the task queue: gaps (read-only view, ignore/requeue actions) and
tasks (requeue, mark failed), with their exports."""
from __future__ import annotations


from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from adce_site.humanize import size_label, when_html, when_label

from reconciliation.interfaces import views
from reconciliation.interfaces.admin_base import (
    DataTypeListFilter,
    EstimatedCountPaginator,
    ListColumnsMixin,
    NoAddDeleteMixin,
    SeasonListFilter,
    StreamingExportMixin,
    ToolsMixin,
    data_type_label_html,
)
from reconciliation.choices import GapKind, GapStatus, TaskStatus
from reconciliation.models import (
    Gap,
    Task,
)
from reconciliation.orchestration.admin import ScraperRunInline
from reconciliation.interfaces.resources import GapResource, TaskResource
from reconciliation.engine.object_files import read_errors
from reconciliation.selectors import gap_expected_objects
from reconciliation.storage.locations import parse_location
from reconciliation.services.task_queue import gaps_ignore, gaps_requeue, tasks_mark_failed, tasks_requeue

@admin.register(Gap)
class GapAdmin(ToolsMixin, ListColumnsMixin, NoAddDeleteMixin, StreamingExportMixin, admin.ModelAdmin):
    resource_classes = [GapResource]
    # Fits a 1,400 px window beside the filters: the data type names its source, dates are short.
    list_display = ("partition_label", "data_type_label", "season", "kind", "priority_badge", "status", "game_date_label",
                    "first_seen_label", "resolved_label", "task_link")
    list_filter = ("priority", "kind", "source", SeasonListFilter, "status", ("data_type", DataTypeListFilter))
    list_select_related = ("source", "data_type", "data_type__source", "task")
    # Served by the index gap_status_priority (status, priority_rank, game_date): a page of a
    # 1,000,000-gap list is an index scan, not a sort of the whole table (bench/admin_gaps.py).
    # Within a status, most urgent first. Column sorting is off for the same reason: no other
    # order has an index, and each would sort every gap on every page.
    ordering = ("status", "priority_rank", "game_date", "partition")
    sortable_by = ()
    search_fields = ("partition",)
    search_help_text = "Partition (game id, ISO date or season) prefix."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["ignore_gaps", "requeue_gaps", "stream_csv_action"]
    stream_columns = views.GAP_COLUMNS
    stream_filename = "gaps"
    # A gap is a finding of reconcile: its page is a read-only view (no Save); it changes only through
    # the list's actions (ignore, requeue) or the next reconcile.
    fieldsets = [
        (None, {"fields": ("source", "data_type", "season", "partition", "game_date", "kind", "priority_badge",
                           "status")}),
        ("Why it is a gap", {"fields": ("verdict", "expected_keys", "deciding_object")}),
        ("Lifecycle", {"fields": ("first_seen_at", "last_seen_at", "resolved_at", "opened_by", "resolved_by",
                                  "task")}),
    ]
    readonly_fields = ("source", "data_type", "season", "partition", "game_date", "kind", "priority_badge", "status",
                       "verdict", "expected_keys", "deciding_object", "first_seen_at", "last_seen_at", "resolved_at",
                       "opened_by", "resolved_by", "task")

    def has_change_permission(self, request, obj=None):
        # The actions need "change" on the list (obj None); a single gap is never edited by hand.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="game date", ordering="game_date")
    def game_date_label(self, obj):
        return obj.game_date.isoformat() if obj.game_date else "—"

    @admin.display(description="first seen (UTC)", ordering="first_seen_at")
    def first_seen_label(self, obj):
        return when_html(obj.first_seen_at)

    @admin.display(description="resolved (UTC)", ordering="resolved_at")
    def resolved_label(self, obj):
        return when_html(obj.resolved_at)

    @admin.display(description="verdict")
    def verdict(self, obj):
        dt_ = obj.data_type
        if obj.kind == GapKind.MISSING:
            return "No stored object matches any pattern of this data type for this partition."
        if obj.kind == GapKind.EMPTY:
            return format_html("The newest object is {} — under this data type's minimum of {} bytes.",
                               size_label(obj.object_size), f"{dt_.min_size_bytes:,}")
        if obj.kind == GapKind.STALE:
            return format_html("The newest object was last modified {} UTC — older than this data type's "
                               "freshness of {} day(s) before the reconcile's date.",
                               when_label(obj.object_last_modified), dt_.freshness_days)
        return obj.kind

    @admin.display(description="expected key under each pattern")
    def expected_keys(self, obj):
        try:
            rows = gap_expected_objects(obj)
        except read_errors() as exc:  # a store held in files that lost a file: say so, not an error page
            return format_html('<span id="gap-expected">the inventory cannot be read: {}</span>',
                               (str(exc).splitlines() or [type(exc).__name__])[0][:500])
        if not rows:
            return "—"
        body = format_html_join("", "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>", (
            (r["pattern"], r["uri"],
             format_html("stored: {}, {} UTC", size_label(r["stored"]["size"]), when_label(r["stored"]["last_modified"]))
             if r["stored"] else "not in the inventory")
            for r in rows))
        return format_html('<table id="gap-expected"><thead><tr><th>pattern</th><th>expected key</th>'
                           "<th>inventory now</th></tr></thead><tbody>{}</tbody></table>", body)

    @admin.display(description="deciding object")
    def deciding_object(self, obj):
        if not obj.object_key:
            return "— (a missing gap has none)"
        store = parse_location(obj.source.location).store if obj.source.location else ""
        uri = f"file:///{obj.object_key}" if store == "file://" else f"{store}/{obj.object_key}"
        return format_html('<span id="gap-deciding"><code>{}</code><br>{} · last modified {} UTC</span>',
                           uri, size_label(obj.object_size), when_label(obj.object_last_modified))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(partition__startswith=term) if term else queryset), False

    @admin.display(description="partition", ordering="partition")
    def partition_label(self, obj):
        if obj.kind == GapKind.SHORT:  # §10: a count, not a partition
            return f"{obj.shortfall} short"
        return obj.partition or "(fixed key)"

    @admin.display(description="task")
    def task_link(self, obj):
        if not obj.task_id:
            return "—"
        url = reverse("admin:reconciliation_task_change", args=[obj.task_id])
        return format_html('<a href="{}" title="task {} ({})">{}</a> {}', url, obj.task_id, obj.task.status,
                           str(obj.task_id)[:8], obj.task.status)

    def get_list_display(self, request):
        # An open gap has no resolution date: one column less where the operator looks most.
        columns = super().get_list_display(request)
        if request.GET.get("status__exact") == GapStatus.OPEN:
            columns = tuple(c for c in columns if c != "resolved_label")
        return columns

    @admin.action(description="Ignore selected open gaps (no longer queued)", permissions=["change"])
    def ignore_gaps(self, request, queryset):
        n = gaps_ignore(queryset)
        self.message_user(request, f"{n} gap(s) ignored.", messages.SUCCESS)

    @admin.action(description="Requeue selected gaps now (new pending tasks)", permissions=["change"])
    def requeue_gaps(self, request, queryset):
        created = gaps_requeue(queryset, reason=f"requeued by {request.user.get_username()} in the admin")
        if created:
            self.message_user(request, f"{len(created)} new pending task(s) created.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to requeue: the selected gaps are resolved or already in an "
                                       "open task.", messages.WARNING)

    def object_tools(self, request):
        return [{"url": reverse("admin:reconciliation_coverage"), "label": "Coverage matrix"},
                *super().object_tools(request)]


@admin.register(Task)
class TaskAdmin(ToolsMixin, ListColumnsMixin, NoAddDeleteMixin, StreamingExportMixin, admin.ModelAdmin):
    resource_classes = [TaskResource]
    # Fits a 1,400 px window beside the filters (Claimed by and Lease included): the data type names its
    # source (whose scraper runs the task: the "By scraper" filter and the task page show it); creation
    # and finish times are on the task's page; moments are short UTC.
    list_display = ("short_id", "status", "priority_badge", "gap_kind", "data_type_label", "season",
                    "open_gaps", "attempts_label", "claimed_by_label", "lease_label")
    list_filter = ("status", "scraper", "priority", "source")
    list_select_related = ("source", "data_type", "data_type__source")
    search_fields = ("=id",)
    show_full_result_count = False
    actions = ["requeue_tasks", "mark_failed", "stream_csv_action"]
    inlines = [ScraperRunInline]  # the task's run history (SPEC §13)
    stream_columns = views.TASK_COLUMNS
    stream_filename = "tasks"
    readonly_fields = ("id", "source", "data_type", "season", "priority", "gap_kind", "scraper", "reason", "status",
                       "attempts", "max_attempts", "last_error", "claimed_by", "claimed_at", "lease_expires_at",
                       "created_at", "updated_at", "finished_at", "reconcile_run", "open_partitions")

    def get_queryset(self, request):
        # A correlated subquery, evaluated only for the rows of the page (index on gap.task_id),
        # not a JOIN + GROUP BY over every gap (seconds at 1,000,000 gaps; bench/admin_gaps.py).
        open_gaps = (Gap.objects.filter(task=OuterRef("pk"), status=GapStatus.OPEN).order_by()
                     .values("task").annotate(n=Count("pk")).values("n"))
        return super().get_queryset(request).annotate(open_gaps=Coalesce(Subquery(open_gaps), 0))

    def get_search_results(self, request, queryset, search_term):
        import uuid

        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    @admin.display(description="task")
    def short_id(self, obj):
        return str(obj.pk)[:8]

    @admin.display(description="lease until (UTC)", ordering="lease_expires_at")
    def lease_label(self, obj):
        return when_html(obj.lease_expires_at)

    @admin.display(description="gaps", ordering="open_gaps")
    def open_gaps(self, obj):
        return obj.open_gaps

    @admin.display(description="claimed by", ordering="claimed_by")
    def claimed_by_label(self, obj):
        # Worker names are long ("scraper@host.domain"): they may wrap after the "@" and the dots.
        return data_type_label_html(obj.claimed_by) if obj.claimed_by else "—"

    @admin.display(description="tries")
    def attempts_label(self, obj):
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="open partitions (first 200)")
    def open_partitions(self, obj):
        parts = list(obj.gaps.filter(status=GapStatus.OPEN).order_by("game_date", "partition")
                     .values_list("partition", flat=True)[:200])
        return ", ".join(p or "(fixed key)" for p in parts) or "—"

    @admin.action(description="Requeue selected tasks (pending, attempts reset)", permissions=["change"])
    def requeue_tasks(self, request, queryset):
        n = tasks_requeue(queryset)
        self.message_user(request, f"{n} task(s) back to pending.", messages.SUCCESS)

    @admin.action(description="Mark selected open tasks failed", permissions=["change"])
    def mark_failed(self, request, queryset):
        n = tasks_mark_failed(queryset.filter(status__in=[TaskStatus.PENDING, TaskStatus.CLAIMED]),
                              by=request.user.get_username())
        self.message_user(request, f"{n} task(s) marked failed.", messages.SUCCESS)
