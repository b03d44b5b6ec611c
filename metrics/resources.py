"""django-import-export resources (export only) for metric definitions and measurement history.

Values are JSON in the database and typed (int, float, str, bool). The stock JSONWidget would
export every value as a JSON string ("5"); `TypedValueWidget` keeps scalars native so an integer
is an integer cell in XLSX, and writes plain text in CSV.
"""
from __future__ import annotations

import json

from import_export import fields, widgets

from adce_site.exports import ExportResource

from .models import Measurement, MetricDefinition


class TypedValueWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        if kwargs.get("force_native_type"):  # binary formats (xlsx): keep int/float/bool/str
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def clean(self, value, row=None, **kwargs):  # export-only resources
        return value


class MetricDefinitionResource(ExportResource):
    metric = fields.Field(attribute="full_name", column_name="metric", readonly=True)
    params = fields.Field(attribute="params", column_name="params", widget=TypedValueWidget(), readonly=True)
    baseline_value = fields.Field(attribute="baseline_value", column_name="baseline_value",
                                  widget=TypedValueWidget(), readonly=True)

    class Meta:
        model = MetricDefinition
        fields = ("metric", "category", "name", "kind", "params", "parse_type", "precision", "volatility",
                  "critical", "ttl_hours", "enabled", "description", "baseline_value", "baseline_set_at",
                  "baseline_set_by", "source_file")
        export_order = fields


class MeasurementResource(ExportResource):
    metric = fields.Field(attribute="metric__full_name", column_name="metric", readonly=True)
    run = fields.Field(attribute="run_id", column_name="run", widget=widgets.IntegerWidget(), readonly=True)
    value = fields.Field(attribute="value", column_name="value", widget=TypedValueWidget(), readonly=True)
    baseline_value = fields.Field(attribute="baseline_value", column_name="baseline_value",
                                  widget=TypedValueWidget(), readonly=True)

    class Meta:
        model = Measurement
        fields = ("id", "metric", "measured_at", "value", "baseline_value", "status", "severity", "drift_pct",
                  "error", "from_cache", "applied", "duration_ms", "run")
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("metric")

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("metric")
