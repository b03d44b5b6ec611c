"""django-import-export resources (export only) for the stored-object inventory, gaps and tasks.

These build the whole file in memory, so the admin caps them (reconciliation.interfaces.admin_base.EXPORT_MAX_ROWS);
larger selections go through the streaming CSV export (reconciliation.interfaces.views.stream_csv)."""
from __future__ import annotations

from import_export import fields, widgets

from adce_site.exports import ExportResource

from reconciliation.choices import GapStatus
from reconciliation.models import Gap, StoredObject, Task
from reconciliation.selectors import with_open_gap_counts


class _Related(fields.Field):
    def __init__(self, attribute, column_name):
        super().__init__(attribute=attribute, column_name=column_name, readonly=True)


class StoredObjectResource(ExportResource):
    source = _Related("source__name", "source")
    data_type = _Related("data_type__name", "data_type")
    scan = fields.Field(attribute="scan_id", column_name="scan", widget=widgets.IntegerWidget(), readonly=True)

    class Meta:
        model = StoredObject
        fields = ("id", "store", "key", "size", "last_modified", "etag", "source", "data_type", "partition", "scan")
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("source", "data_type")


class GapResource(ExportResource):
    source = _Related("source__name", "source")
    data_type = _Related("data_type__name", "data_type")
    task = fields.Field(attribute="task_id", column_name="task", readonly=True)

    class Meta:
        model = Gap
        fields = ("id", "source", "data_type", "season", "partition", "game_date", "kind", "priority", "status",
                  "first_seen_at", "last_seen_at", "resolved_at", "object_key", "object_size",
                  "object_last_modified", "task")
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("source", "data_type")


class TaskResource(ExportResource):
    source = _Related("source__name", "source")
    data_type = _Related("data_type__name", "data_type")
    open_gaps = fields.Field(column_name="open_gaps", readonly=True)

    class Meta:
        model = Task
        fields = ("id", "status", "priority", "gap_kind", "source", "data_type", "season", "scraper", "open_gaps",
                  "attempts", "max_attempts", "last_error", "claimed_by", "claimed_at", "lease_expires_at",
                  "created_at", "finished_at", "reason")
        export_order = fields

    def get_queryset(self):
        return with_open_gap_counts(super().get_queryset().select_related("source", "data_type"))

    def dehydrate_open_gaps(self, task):
        # Annotated by the admin's queryset; counted on demand otherwise.
        value = getattr(task, "open_gaps", None)
        return value if value is not None else task.gaps.filter(status=GapStatus.OPEN).count()
