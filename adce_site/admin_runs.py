"""What the run pages (scan, reconcile, verify) share: the stored summary as readable tables, rendered
from a template, and the raw JSON one link away (`<run>/raw.json`)."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .humanize import duration_ms_label


class RunSummaryMixin:
    """ModelAdmin mixin: `summary_tables` (read-only field) renders `summary_template` with
    `summary_context(obj)`; `raw_json_link` links the JSON of `raw_json_attr`."""

    summary_template = ""
    raw_json_attr = "summary"

    def summary_context(self, obj) -> dict:
        return {}

    @admin.display(description="duration", ordering="duration_ms")
    def duration_label(self, obj):
        return duration_ms_label(obj.duration_ms)

    @admin.display(description="summary")
    def summary_tables(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        # The template escapes every value it prints.
        return mark_safe(render_to_string(self.summary_template, {"run": obj, **self.summary_context(obj)}))

    @admin.display(description="raw JSON")
    def raw_json_link(self, obj):
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_raw_json", args=[obj.pk])
        return format_html('<a href="{}" id="raw-json-link">{} as JSON</a>', url, self.raw_json_attr)

    def get_urls(self):
        opts = self.model._meta
        return [
            path("<path:object_id>/raw.json", self.admin_site.admin_view(self.raw_json_view),
                 name=f"{opts.app_label}_{opts.model_name}_raw_json"),
        ] + super().get_urls()

    def raw_json_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return JsonResponse({"error": f"{self.model._meta.verbose_name} {object_id!r} does not exist"}, status=404)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return JsonResponse(getattr(obj, self.raw_json_attr) or {}, safe=False, json_dumps_params={"indent": 2})
