"""Admin of the reconciliation app: coverage (read-only: it comes from import_coverage/import_catalog),
scan and reconcile runs, the stored-object inventory and its exports, the coverage matrix page. Gaps
and tasks: admin_queue.py; the shared building blocks: admin_base.py.

Big tables (StoredObject, CatalogGame, Gap) avoid whole-table work per page: no full result count,
select_related for every column shown, indexed lookups only. Exports: the import-export CSV/XLSX
builds the file in memory, so it is capped at EXPORT_MAX_ROWS rows; the streaming CSV export has no
cap (it reads the filtered selection in chunks)."""
from __future__ import annotations


from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from adce_site.admin_runs import RunSummaryMixin
from adce_site.humanize import size_label

from reconciliation.interfaces import admin_base, object_browser, run_pages, views
from reconciliation.interfaces.admin_base import (
    EstimatedCountPaginator,
    ReadOnlyMixin,
    StreamingExportMixin,
    ToolsMixin,
)
from reconciliation.models import (
    CatalogGame,
    DataType,
    DimensionValue,
    ReconcileRun,
    ReconciliationSettings,
    ScanRun,
    Source,
    StoredObject,
)
from reconciliation.interfaces.resources import StoredObjectResource
from reconciliation.selectors import stored_object_search

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
    # priority, tier and description are the original's, kept as written (§10)
    list_display = ("name", "source", "level", "required", "completeness_threshold", "freshness_days",
                    "min_size_bytes", "minutes_per_file", "expected_count", "priority", "tier", "active")
    list_filter = ("source", "level", "required", "priority", "tier", "active")
    list_select_related = ("source",)
    search_fields = ("name", "description")


@admin.register(DimensionValue)
class DimensionValueAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("value", "dimension", "source", "season")
    list_filter = ("source", "dimension", "season")
    list_select_related = ("source",)
    search_fields = ("value",)


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
    list_display = ("id", "status", "mode", "parallel", "trigger", "started_at", "duration_label", "objects_label",
                    "size_label", "matched_count", "unmatched_count", "estimated_objects")
    list_filter = ("status", "mode", "parallel", "trigger")
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

    # With some store held in files (ADCE_OBJECT_STORE=files) its objects are not all rows: the list, its
    # search, filter and exports read every object through object_selectors instead (interfaces/object_browser).
    @staticmethod
    def files_held() -> bool:
        from reconciliation.engine.object_files import file_inventories

        return bool(file_inventories())

    def changelist_view(self, request, extra_context=None):
        if self.files_held():
            if not self.has_view_permission(request):
                raise PermissionDenied
            return object_browser.browser_view(request, self)
        return super().changelist_view(request, extra_context)

    def stream_csv_view(self, request):
        if self.files_held():
            if not self.has_export_permission(request):
                raise PermissionDenied
            return object_browser.stream_csv(request, self.stream_filename)
        return super().stream_csv_view(request)

    def export_action(self, request):
        if self.files_held():  # import-export's form exports a queryset: rows only. The browser's own export:
            return HttpResponseRedirect(reverse("admin:reconciliation_storedobject_changelist"))
        return super().export_action(request)

    def export_file_view(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        return object_browser.export_file(request, self.stream_filename, admin_base.EXPORT_MAX_ROWS,
                                          self.export_refusal)

    def get_urls(self):
        return [path("export-file/", self.admin_site.admin_view(self.export_file_view),
                     name="reconciliation_storedobject_export_file")] + super().get_urls()
