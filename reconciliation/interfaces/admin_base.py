"""Building blocks of the reconciliation admin pages: a paginator that does not count huge tables,
list filters, read-only and tool mixins, the streaming CSV export (no cap) beside the capped
import-export one."""
from __future__ import annotations

import re

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV

from adce_site.exports import TableXLSX

from reconciliation.interfaces import views
from reconciliation.models import (
    DataType,
    Source,
)

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
            raise ValueError(self.export_refusal(EXPORT_MAX_ROWS))
        return super().get_export_data(file_format, request, queryset, **kwargs)

    def export_refusal(self, cap: int) -> str:
        return (f"The selection has more than {cap:,} rows, too many to build in memory: "
                f"narrow it with the filters, or use “Stream CSV” ({self._stream_url()}), which has no limit.")

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
