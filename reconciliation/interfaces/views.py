"""Admin-wrapped views: the coverage matrix page and streaming CSV exports.

Both are mounted by reconciliation.interfaces.admin (ModelAdmin.get_urls, behind admin_site.admin_view), so
they are staff-only like the rest of the admin."""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from reconciliation.choices import GapStatus
from reconciliation.selectors import NO_SEASON, coverage_matrix, iso_z

STREAM_CHUNK_ROWS = 2000


class _Echo:
    """A file-like object whose write() returns the line: csv.writer then yields strings."""

    def write(self, value):
        return value


def _cell(value):
    if isinstance(value, dt.datetime):  # the same form as the other exports (adce_site/exports.py)
        return iso_z(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def csv_rows(queryset: QuerySet, columns: Sequence[tuple[str, str]], *, chunk_size: int = STREAM_CHUNK_ROWS) -> Iterator[str]:
    """CSV lines (header first) of `queryset`, read in chunks with a server-side cursor where the
    database has one: memory stays flat whatever the table size."""
    writer = csv.writer(_Echo())
    yield writer.writerow([header for header, _ in columns])
    rows = queryset.values_list(*[lookup for _, lookup in columns]).iterator(chunk_size=chunk_size)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def stream_csv(queryset: QuerySet, columns: Sequence[tuple[str, str]], filename: str) -> StreamingHttpResponse:
    # Order by primary key: deterministic, and cheap for the database to walk.
    response = StreamingHttpResponse(csv_rows(queryset.order_by("pk"), columns), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


STORED_OBJECT_COLUMNS = (
    ("store", "store"), ("key", "key"), ("size", "size"), ("last_modified", "last_modified"), ("etag", "etag"),
    ("source", "source__name"), ("data_type", "data_type__name"), ("partition", "partition"), ("scan", "scan_id"),
)
GAP_COLUMNS = (
    ("id", "id"), ("source", "source__name"), ("data_type", "data_type__name"), ("season", "season"),
    ("partition", "partition"), ("game_date", "game_date"), ("kind", "kind"), ("priority", "priority"),
    ("status", "status"), ("first_seen_at", "first_seen_at"), ("last_seen_at", "last_seen_at"),
    ("resolved_at", "resolved_at"), ("object_key", "object_key"), ("object_size", "object_size"),
    ("object_last_modified", "object_last_modified"), ("task", "task_id"),
)
TASK_COLUMNS = (
    ("id", "id"), ("status", "status"), ("priority", "priority"), ("gap_kind", "gap_kind"),
    ("source", "source__name"), ("data_type", "data_type__name"), ("season", "season"), ("scraper", "scraper"),
    ("attempts", "attempts"), ("max_attempts", "max_attempts"), ("last_error", "last_error"),
    ("claimed_by", "claimed_by"), ("claimed_at", "claimed_at"), ("lease_expires_at", "lease_expires_at"),
    ("created_at", "created_at"), ("finished_at", "finished_at"), ("reason", "reason"),
)


def gap_changelist_url(*, source_id: int, data_type_id: int, season: str, status: str | None = GapStatus.OPEN) -> str:
    """The Gap changelist filtered to one coverage cell (parameters of its list filters)."""
    params = {"source__id__exact": source_id, "data_type__id__exact": data_type_id}
    if season == NO_SEASON:
        params["season__isnull"] = "True"
    else:
        params["season"] = season
    if status:
        params["status__exact"] = status
    return reverse("admin:reconciliation_gap_changelist") + "?" + urlencode(params)


def coverage_matrix_rows(matrix) -> list[dict]:
    """The matrix's rows for a template: each cell with the link to its gap list (None where a data
    type does not cover a season). Shared by the matrix page and the admin home."""
    rows = []
    for row in matrix.rows:
        cells = [None if cell is None else {
            "cell": cell,
            "url": gap_changelist_url(source_id=cell.source_id, data_type_id=cell.data_type_id, season=cell.season),
            "ignored": cell.gaps - cell.open_gaps,
        } for cell in row.cells]
        rows.append({"row": row, "cells": cells})
    return rows


def coverage_matrix_view(request, admin_site):
    if not request.user.has_perm("reconciliation.view_gap"):
        raise PermissionDenied
    matrix = coverage_matrix()
    rows = coverage_matrix_rows(matrix)
    context = {
        **admin_site.each_context(request),
        "title": "Coverage matrix",
        "seasons": [s or "no season" for s in matrix.seasons],
        "rows": rows,
        "run": matrix.run,
    }
    request.current_app = admin_site.name
    return TemplateResponse(request, "admin/reconciliation/coverage.html", context)
