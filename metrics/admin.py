"""Admin for metrics: definitions with their latest measurement, history charts, runs, snapshots.

Definitions come from YAML (`import_metrics`), so the admin never adds them and never edits what
the YAML owns: kind, params, parse type, baseline (baselines move only through verify/update and
approvals, typed). Shell metrics are entirely read-only (SPEC §3: never editable through the admin).
"""
from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from import_export.admin import ExportActionMixin, ExportMixin
from import_export.formats.base_formats import CSV

from adce_site.admin_runs import RunSummaryMixin
from adce_site.exports import TableXLSX

from .charts import history_chart_svg
from .choices import DRIFT_DISPLAY_ORDER, DriftStatus, MetricKind
from .models import CacheEntry, Measurement, MetricDefinition, MetricsSettings, Snapshot, VerificationRun
from .resources import MeasurementResource, MetricDefinitionResource
from .selectors import NUMERIC_PARSE_TYPES, current_value_of, latest_measurements_status_q, metric_history, metrics_with_latest

CHANGE_PAGE_DAYS = 90
CHANGE_PAGE_ROWS = 50

SEVERITY_COLOURS = {
    "none": "#6c757d",
    "low": "#2f6fd0",
    "medium": "#b58900",
    "high": "#d9670b",
    "critical": "#c62828",
}


def severity_badge(severity: str | None):
    if not severity:
        return "—"
    colour = SEVERITY_COLOURS.get(severity, "#6c757d")
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 6px;border-radius:3px;font-size:11px">{}</span>',
        colour, severity,
    )


def show_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ExportPermissionMixin:
    """Export only what the user may view (the import-export default lets any staff user export)."""

    export_formats = [CSV, TableXLSX]

    def has_export_permission(self, request):
        return self.has_view_permission(request)


class LatestStatusFilter(admin.SimpleListFilter):
    title = "latest status"
    parameter_name = "latest_status"

    def lookups(self, request, model_admin):
        return [*DriftStatus.choices, ("never", "never measured")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(latest_measurements_status_q(self.value()))
        return queryset


class MeasurementInline(admin.TabularInline):
    model = Measurement
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("metric", "value", "baseline_value", "status", "severity", "drift_pct", "error", "from_cache", "applied")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("metric")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MetricDefinition)
class MetricDefinitionAdmin(ExportPermissionMixin, ExportActionMixin, admin.ModelAdmin):
    resource_classes = [MetricDefinitionResource]
    change_form_template = "admin/metrics/metricdefinition/change_form.html"
    list_display = ("dotted_name", "kind", "latest_value", "latest_status", "severity", "baseline", "critical", "enabled")
    list_filter = ("category", "kind", "volatility", "critical", "enabled", LatestStatusFilter)
    search_fields = ("category", "name", "description")
    list_per_page = 100
    readonly_fields = ("dotted_name", "category", "name", "kind", "params", "parse_type", "precision",
                       "baseline_value", "baseline_set_at", "baseline_set_by", "source_file", "created_at",
                       "updated_at", "latest_summary")
    fieldsets = (
        (None, {"fields": ("dotted_name", "kind", "params", "parse_type", "precision", "description")}),
        ("Judgement", {"fields": ("volatility", "critical", "ttl_hours", "enabled")}),
        ("Baseline", {"fields": ("baseline_value", "baseline_set_at", "baseline_set_by", "latest_summary")}),
        ("Origin", {"classes": ("collapse",), "fields": ("category", "name", "source_file", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # One query for the whole page: the latest measurement comes in as subquery annotations.
        return metrics_with_latest(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # definitions come from YAML (import_metrics)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.kind == MetricKind.SHELL:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="metric", ordering="category")
    def dotted_name(self, obj):
        return obj.full_name

    @admin.display(description="latest value")
    def latest_value(self, obj):
        if getattr(obj, "latest_id", None) is None:
            return "—"
        return show_value(current_value_of(obj))

    @admin.display(description="status", ordering="latest_status")
    def latest_status(self, obj):
        return getattr(obj, "latest_status", None) or "never"

    @admin.display(description="severity", ordering="latest_severity")
    def severity(self, obj):
        return severity_badge(getattr(obj, "latest_severity", None))

    @admin.display(description="baseline")
    def baseline(self, obj):
        return show_value(obj.baseline_value) if obj.has_baseline else "—"

    @admin.display(description="latest measurement")
    def latest_summary(self, obj):
        if getattr(obj, "latest_id", None) is None:
            return "never measured"
        drift = "" if obj.latest_drift_pct is None else f", drift {obj.latest_drift_pct:.2f}%"
        error = f" — {obj.latest_error}" if obj.latest_error else ""
        return format_html("{} ({}{}) at {}{} {}", show_value(current_value_of(obj)), obj.latest_status, drift,
                           obj.latest_measured_at.isoformat(timespec="seconds"), error,
                           severity_badge(obj.latest_severity))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            history = metric_history(obj, CHANGE_PAGE_DAYS)
            recent = list(obj.measurements.select_related("run").order_by("-measured_at", "-pk")[:CHANGE_PAGE_ROWS])
            extra_context.update({
                "history": history,
                "history_days": CHANGE_PAGE_DAYS,
                # The SVG is built by metrics.charts, which escapes every piece of text.
                "history_chart": mark_safe(history_chart_svg(history, title=f"{obj.full_name} — last {CHANGE_PAGE_DAYS} days"))
                if obj.parse_type in NUMERIC_PARSE_TYPES else "",
                "recent_measurements": recent,
                "history_url": reverse("admin:metrics_measurement_changelist") + f"?metric__id__exact={obj.pk}",
            })
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(Measurement)
class MeasurementAdmin(ExportPermissionMixin, ExportMixin, admin.ModelAdmin):
    resource_classes = [MeasurementResource]
    list_display = ("measured_at", "metric", "value_display", "baseline_display", "status", "severity_display",
                    "drift_pct", "error_short", "from_cache", "applied", "run")
    list_filter = ("status", "severity", "from_cache", "applied", "metric__category")
    list_select_related = ("metric", "run")
    search_fields = ("metric__category", "metric__name", "error")
    date_hierarchy = "measured_at"
    show_full_result_count = False  # history grows without bound: no COUNT(*) of the whole table
    list_per_page = 200
    raw_id_fields = ("metric", "run")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # history is a record, never edited

    @admin.display(description="value")
    def value_display(self, obj):
        return show_value(obj.value)

    @admin.display(description="baseline")
    def baseline_display(self, obj):
        return show_value(obj.baseline_value)

    @admin.display(description="severity", ordering="severity")
    def severity_display(self, obj):
        return severity_badge(obj.severity)

    @admin.display(description="error")
    def error_short(self, obj):
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error


@admin.register(VerificationRun)
class VerificationRunAdmin(RunSummaryMixin, admin.ModelAdmin):
    list_display = ("id", "started_at", "trigger", "status", "update", "duration_label", "summary_display",
                    "measurement_count")
    list_filter = ("status", "trigger", "update")
    date_hierarchy = "started_at"
    fields = ("trigger", "status", "update", "options_display", "started_at", "finished_at", "duration_label", "error",
              "summary_tables", "raw_json_link", "measurements_link")
    readonly_fields = fields
    inlines = [MeasurementInline]
    summary_template = "admin/metrics/verificationrun_summary.html"

    def summary_context(self, obj):
        s = obj.summary or {}
        statuses = [(k.value, s[k]) for k in DRIFT_DISPLAY_ORDER if s.get(k)]
        outcome = [(label, s[k]) for k, label in (
            ("applied", "baselines applied"), ("pending_approval", "waiting for approval"),
            ("from_cache", "reused from the cache"), ("unresolved", "unresolved (drifted, pending or error)"),
            ("listings", "storage listings"), ("s3_list_calls", "S3 list calls")) if k in s]
        return {"total": s.get("total", 0), "statuses": statuses, "outcome": outcome}

    @admin.display(description="options")
    def options_display(self, obj):
        return ", ".join(f"{k}={v}" for k, v in (obj.options or {}).items() if v not in (None, False, "", [])) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_measurements=Count("measurements"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="summary")
    def summary_display(self, obj):
        summary = obj.summary or {}
        return " · ".join(f"{k} {v}" for k, v in summary.items() if v) or "—"

    @admin.display(description="measurements", ordering="n_measurements")
    def measurement_count(self, obj):
        return obj.n_measurements

    @admin.display(description="measurements")
    def measurements_link(self, obj):
        url = reverse("admin:metrics_measurement_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">all measurements of this run</a>', url)


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("date", "taken_at", "metric_count", "missing_count")
    date_hierarchy = "date"
    readonly_fields = ("date", "taken_at", "values_table")
    exclude = ("values",)

    def has_add_permission(self, request):
        return False  # `manage.py snapshot` takes them

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="metrics")
    def metric_count(self, obj):
        return len(obj.values or {})

    @admin.display(description="without value")
    def missing_count(self, obj):
        return sum(1 for v in (obj.values or {}).values() if v is None)

    @admin.display(description="values")
    def values_table(self, obj):
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>",
                                ((name, show_value(value)) for name, value in sorted((obj.values or {}).items())))
        return format_html("<table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>{}</tbody></table>", rows)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MetricsSettings)
class MetricsSettingsAdmin(ReadOnlyAdmin):
    """Imported from the YAML with the definitions: shown, never edited here."""

    list_display = ("__str__", "minor_drift_pct", "moderate_drift_pct", "major_drift_pct", "approval_enabled",
                    "require_approval_threshold", "default_ttl_hours", "imported_at")


@admin.register(CacheEntry)
class CacheEntryAdmin(ReadOnlyAdmin):
    list_display = ("metric", "value", "measured_at", "expires_at")
    list_select_related = ("metric",)
    search_fields = ("metric__category", "metric__name")

    def has_delete_permission(self, request, obj=None):
        return super(ReadOnlyAdmin, self).has_delete_permission(request, obj)  # dropping a cache entry is safe
