"""Admin of the reconciliation app: coverage (read-only: it comes from import_coverage/import_catalog),
scan and reconcile runs, the stored-object inventory, gaps and tasks, the coverage matrix page and
exports.

Big tables (StoredObject, CatalogGame, Gap) avoid whole-table work per page: no full result count,
select_related for every column shown, indexed lookups only. Exports: the import-export CSV/XLSX
builds the file in memory, so it is capped at EXPORT_MAX_ROWS rows; the streaming CSV export has no
cap (it reads the filtered selection in chunks)."""
from __future__ import annotations

import re

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV

from adce_site.admin_runs import RunSummaryMixin
from adce_site.exports import TableXLSX
from adce_site.humanize import size_label, when_html, when_label

from reconciliation.interfaces import run_pages, views
from reconciliation.choices import GapKind, GapStatus, TaskStatus
from reconciliation.models import (
    CatalogGame,
    DataType,
    Gap,
    ReconcileRun,
    ReconciliationSettings,
    ScanRun,
    Source,
    StoredObject,
    Task,
)
from reconciliation.orchestration.admin import ScraperRunInline
from reconciliation.interfaces.resources import GapResource, StoredObjectResource, TaskResource
from reconciliation.selectors import gap_expected_objects, stored_object_search
from reconciliation.storage.locations import parse_location
from reconciliation.services.task_queue import gaps_ignore, gaps_requeue, tasks_mark_failed, tasks_requeue

EXPORT_MAX_ROWS = getattr(settings, "ADCE_EXPORT_MAX_ROWS", 100_000)


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL an unfiltered changelist of a huge table uses the planner's row estimate
    (pg_class.reltuples) instead of COUNT(*); filtered lists and other databases count exactly."""

    @cached_property
    def count(self):
        qs = self.object_list
        if hasattr(qs, "query") and not qs.query.where and connections[qs.db].vendor == "postgresql":
            with connections[qs.db].cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [qs.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] and row[0] > 10_000:  # small tables: the exact count is cheap
                return int(row[0])
        return super().count


class DataTypeListFilter(admin.RelatedFieldListFilter):
    """The data-type filter's choices with their sources in one query: DataType.__str__ shows
    "source.name", which would otherwise cost one query per data type on every changelist page."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin) or ("source__name", "name")
        return [(dt.pk, str(dt)) for dt in
                DataType.objects.select_related("source").order_by(*ordering)]


class SeasonListFilter(admin.SimpleListFilter):
    """Seasons from the sources' coverage (a small table), not `SELECT DISTINCT season` over the gap
    table: that is a scan of every gap (~200 ms at 1,000,000 gaps) on every changelist page.
    Same parameter as the stock filter (`?season=2024-25`), so existing links keep working."""

    title = "season"
    parameter_name = "season"

    def lookups(self, request, model_admin):
        seasons = set()
        for listed in Source.objects.values_list("seasons", flat=True):
            seasons.update(s for s in (listed or []) if isinstance(s, str))
        current = self.value()
        if current:
            seasons.add(current)  # a gap of a season no longer covered can still be filtered by URL
        return [(s, s) for s in sorted(seasons)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(season=value) if value else queryset


class ToolsMixin:
    """Extra object-tool links on the changelist (`adce_tools` in the templates)."""

    def changelist_view(self, request, extra_context=None):
        tools = self.object_tools(request) if hasattr(self, "object_tools") else []
        extra_context = {**(extra_context or {}), "adce_tools": tools}
        return super().changelist_view(request, extra_context)


def data_type_label_html(text: str):
    """`text` allowed to wrap after each "." and "@" (and nowhere else) when its column must be narrow."""
    parts = re.split(r"(?<=[.@])", text)
    return format_html_join(mark_safe("<wbr>"), "{}", ((p,) for p in parts))


class ListColumnsMixin:
    """Columns the gap and task lists share."""

    @admin.display(description="priority", ordering="priority")
    def priority_badge(self, obj):
        return format_html('<span class="adce-badge {}">{}</span>', obj.priority, obj.priority)

    @admin.display(description="data type", ordering="data_type__name")
    def data_type_label(self, obj):
        return data_type_label_html(str(obj.data_type))


class NoAddDeleteMixin:
    """Rows only the domain creates and whose history must stay: no add, no delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoAddDeleteMixin):
    """Rows written by the domain (imports, scans, reconciles): viewable, never edited by hand."""

    def has_change_permission(self, request, obj=None):
        return False


class StreamingExportMixin(ExportMixin):
    """CSV/XLSX through import-export for selections up to EXPORT_MAX_ROWS, plus a streaming CSV
    export (URL `<model>/export-csv/` honouring the changelist's filters and search, and an action)."""

    export_formats = [CSV, TableXLSX]
    import_export_change_list_template = "admin/reconciliation/change_list_export_tools.html"
    stream_columns: tuple = ()
    stream_filename = "export"

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        # Counting at most cap+1 rows keeps this check cheap on a huge table.
        if queryset.order_by()[: EXPORT_MAX_ROWS + 1].count() > EXPORT_MAX_ROWS:
            raise ValueError(
                f"The selection has more than {EXPORT_MAX_ROWS:,} rows, too many to build in memory: "
                f"narrow it with the filters, or use “Stream CSV” ({self._stream_url()}), which has no limit."
            )
        return super().get_export_data(file_format, request, queryset, **kwargs)

    def _stream_url(self) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_export_csv")

    def get_urls(self):
        opts = self.model._meta
        return [
            path("export-csv/", self.admin_site.admin_view(self.stream_csv_view),
                 name=f"{opts.app_label}_{opts.model_name}_export_csv"),
        ] + super().get_urls()

    def stream_csv_view(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        # The same filtered/searched queryset as the changelist, without paging or counting.
        return views.stream_csv(self.get_export_queryset(request), self.stream_columns, self.stream_filename)

    @admin.action(description="Stream selected rows as CSV (no size limit)", permissions=["view"])
    def stream_csv_action(self, request, queryset):
        return views.stream_csv(queryset, self.stream_columns, self.stream_filename)

    def object_tools(self, request):
        return [{"url": self._stream_url(), "label": "Stream CSV", "with_filters": True}]


class DataTypeInline(admin.TabularInline):
    model = DataType
    extra = 0
    show_change_link = True
    fields = ("name", "level", "required", "freshness_days", "completeness_threshold", "min_size_bytes",
              "minutes_per_file", "path_patterns", "active")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Source)
class SourceAdmin(ToolsMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/reconciliation/change_list_tools.html"
    list_display = ("name", "scraper", "location", "season_list", "active", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "scraper")
    readonly_fields = ("name", "scraper", "location", "seasons", "active", "updated_at")
    inlines = [DataTypeInline]

    @admin.display(description="seasons")
    def season_list(self, obj):
        return ", ".join(obj.seasons or [])

    def get_urls(self):
        return [
            path("coverage/", self.admin_site.admin_view(self.coverage_view), name="reconciliation_coverage"),
        ] + super().get_urls()

    def coverage_view(self, request):
        return views.coverage_matrix_view(request, self.admin_site)

    def object_tools(self, request):
        return [{"url": reverse("admin:reconciliation_coverage"), "label": "Coverage matrix"}]


@admin.register(DataType)
class DataTypeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "source", "level", "required", "completeness_threshold", "freshness_days",
                    "min_size_bytes", "minutes_per_file", "active")
    list_filter = ("source", "level", "required", "active")
    list_select_related = ("source",)
    search_fields = ("name",)


@admin.register(CatalogGame)
class CatalogGameAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("game_id", "source", "season", "game_date", "season_type")
    list_filter = ("source", "season")
    list_select_related = ("source",)
    search_fields = ("game_id",)
    search_help_text = "Exact game id."
    show_full_result_count = False
    date_hierarchy = None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(game_id=term) if term else queryset), False


@admin.register(ScanRun)
class ScanRunAdmin(RunSummaryMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "status", "mode", "trigger", "started_at", "duration_label", "objects_label", "size_label",
                    "matched_count", "unmatched_count", "estimated_objects")
    list_filter = ("status", "mode", "trigger")
    fieldsets = [
        (None, {"fields": ("status", "mode", "trigger", "started_at", "finished_at", "duration_label", "error")}),
        ("What the scan saw", {"fields": ("summary_tables", "raw_json_link")}),
        ("Options", {"classes": ("collapse",), "fields": ("sources", "locations", "location_override", "manifest_uri",
                                                          "sample_rate", "seed")}),
    ]
    readonly_fields = ("status", "mode", "trigger", "started_at", "finished_at", "duration_label", "error",
                       "summary_tables", "raw_json_link", "sources", "locations", "location_override", "manifest_uri",
                       "sample_rate", "seed")
    summary_template = "admin/reconciliation/scanrun_summary.html"
    raw_json_attr = "stats"

    def summary_context(self, obj):
        return run_pages.scan_run_context(obj)

    @admin.display(description="objects", ordering="objects_seen")
    def objects_label(self, obj):
        return f"{obj.objects_seen:,}"

    @admin.display(description="size", ordering="bytes_seen")
    def size_label(self, obj):
        return size_label(obj.bytes_seen)


@admin.register(ReconcileRun)
class ReconcileRunAdmin(RunSummaryMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "status", "as_of", "trigger", "dry_run", "started_at", "duration_label", "gaps_label", "scan")
    list_filter = ("status", "trigger")
    list_select_related = ("scan",)
    fieldsets = [
        (None, {"fields": ("status", "as_of", "trigger", "dry_run", "scan", "started_at", "finished_at",
                           "duration_label", "output_path", "error")}),
        ("What the reconcile found", {"fields": ("summary_tables", "raw_json_link")}),
    ]
    readonly_fields = ("status", "as_of", "trigger", "dry_run", "scan", "started_at", "finished_at", "duration_label",
                       "output_path", "error", "summary_tables", "raw_json_link")
    summary_template = "admin/reconciliation/reconcilerun_summary.html"

    def summary_context(self, obj):
        return run_pages.reconcile_run_context(obj)

    @admin.display(description="gaps (opened / resolved)")
    def gaps_label(self, obj):
        gaps = (obj.summary or {}).get("gaps") or {}
        if not gaps:
            return "—"
        return f"{gaps.get('total', 0):,} ({gaps.get('opened', 0):,} / {gaps.get('resolved', 0):,})"


@admin.register(ReconciliationSettings)
class ReconciliationSettingsAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("__str__", "critical_days", "max_items_per_task", "source_file", "imported_at")


@admin.register(StoredObject)
class StoredObjectAdmin(ToolsMixin, ReadOnlyMixin, StreamingExportMixin, admin.ModelAdmin):
    resource_classes = [StoredObjectResource]
    list_display = ("key", "store", "size", "last_modified", "source", "data_type", "partition")
    list_select_related = ("source", "data_type", "data_type__source")
    list_filter = ("source",)  # a small table; the filter uses the FK index
    search_fields = ("key",)
    search_help_text = ("Key prefix (case-sensitive), relative to a source's location (e.g. espn_play_by_play/4018), "
                        "a full key, or a URI (s3://bucket/key…, file:///path…)")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["stream_csv_action"]
    stream_columns = views.STORED_OBJECT_COLUMNS
    stream_filename = "stored-objects"

    def get_search_results(self, request, queryset, search_term):
        # Prefix only: `key LIKE 'prefix%'` can use an index; a substring search cannot.
        return stored_object_search(queryset, search_term), False


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
        rows = gap_expected_objects(obj)
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
