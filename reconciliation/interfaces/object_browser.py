"""The admin's browser of ALL stored objects when some store is held in files (ADCE_OBJECT_STORE=files):
the StoredObject changelist's page, search, source filter and exports, read through
reconciliation.object_selectors (rows and files merged by (store, key)) instead of a queryset.

Paging is keyset by (store, key) — an opaque cursor naming the last row shown — so a page costs one
ordered range read whatever the table's size, and nothing counts the whole selection. Mounted by
StoredObjectAdmin behind admin_site.admin_view (staff only) and its view permission."""
from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from reconciliation.domain.object_query import Where
from reconciliation.engine.object_files import read_errors
from reconciliation.object_selectors import objects_count_over, objects_page, objects_rows, search_where, with_source

PAGE_ROWS = 100


class BadBrowse(ValueError):
    """A request the browser cannot read (a malformed cursor or filter): answered 400 with this reason."""


@dataclass(frozen=True)
class Browse:
    term: str = ""
    source_id: int | None = None
    after: tuple[str, str] | None = None

    def where(self) -> Where:
        return with_source(search_where(self.term), self.source_id)

    def query(self, **changes) -> str:
        """The query string of this selection (`after` replaced or dropped by `changes`)."""
        params = {"q": self.term, "source": self.source_id, "after": encode_cursor(self.after)}
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def encode_cursor(after: tuple[str, str] | None) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadBrowse("the page cursor 'after' is not one this browser made") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise BadBrowse("the page cursor 'after' is not one this browser made")
    return value[0], value[1]


def parse_browse(params) -> Browse:
    """The browser's selection from its query string; BadBrowse names what is wrong."""
    source = params.get("source", "") or params.get("source__id__exact", "")
    source_id = None
    if source:
        try:
            source_id = int(source)
        except ValueError:
            raise BadBrowse(f"source must be a source's id, not {source[:40]!r}") from None
    after = params.get("after", "")
    return Browse(term=params.get("q", ""), source_id=source_id,
                  after=decode_cursor(after) if after else None)


def _names():
    from reconciliation.models import DataType, Source

    return dict(Source.objects.values_list("id", "name")), dict(DataType.objects.values_list("id", "name"))


EXPORT_HEADERS = ("store", "key", "size", "last_modified", "etag", "source", "data_type", "partition", "scan")


def export_rows(where: Where):
    """The export's rows (the columns of views.STORED_OBJECT_COLUMNS), names for ids, streamed."""
    sources, types = _names()
    for store, key, size, modified, etag, source_id, type_id, partition, scan_id in objects_rows(where):
        yield (store, key, size, modified, etag, sources.get(source_id, ""), types.get(type_id, ""), partition,
               scan_id)


def bad_request(exc: BadBrowse) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(f"Bad request: {exc}\n", content_type="text/plain; charset=utf-8")


def unreadable(exc: BaseException) -> HttpResponse:
    """A store held in files whose files cannot be read: the reason, never an empty list or an error page."""
    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:500]
    return HttpResponse(f"The object inventory cannot be read: {reason}\n", status=503,
                        content_type="text/plain; charset=utf-8")


def browser_view(request, model_admin):
    try:
        browse = parse_browse(request.GET)
    except BadBrowse as exc:
        return bad_request(exc)
    sources, types = _names()
    try:
        page = objects_page(browse.where(), after=browse.after, limit=PAGE_ROWS + 1)
    except read_errors() as exc:
        return unreadable(exc)
    more = len(page) > PAGE_ROWS
    page = page[:PAGE_ROWS]
    for obj in page:
        obj["source"] = sources.get(obj["source_id"], "")
        obj["data_type"] = types.get(obj["data_type_id"], "")
    last = (page[-1]["store"], page[-1]["key"]) if page else None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Stored objects",
        "opts": model_admin.model._meta,
        "browse": browse,
        "objects": page,
        "sources": sorted(sources.items(), key=lambda kv: kv[1]),
        "next_query": browse.query(after=encode_cursor(last)) if more else None,
        "first_query": browse.query(after=None) if browse.after else None,
        "export_query": browse.query(after=None),
        "page_rows": PAGE_ROWS,
        "search_help": model_admin.search_help_text,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/object_browser.html", context)


class _Echo:
    def write(self, value):
        return value


def stream_csv(request, filename: str):
    """Every object of the selection as CSV, streamed (no cap: memory stays flat)."""
    from reconciliation.interfaces.views import _cell

    try:
        browse = parse_browse(request.GET)
    except BadBrowse as exc:
        return bad_request(exc)

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(EXPORT_HEADERS)
        for row in export_rows(browse.where()):
            yield writer.writerow([_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response


def export_file(request, filename: str, cap: int, refusal):
    """The selection as CSV or XLSX built in memory (the import-export formats), refused above `cap` rows
    with `refusal(cap)` as an error message back on the browser."""
    import tablib
    from django.contrib import messages
    from django.http import HttpResponse, HttpResponseRedirect
    from django.urls import reverse
    from import_export.formats.base_formats import CSV

    from adce_site.exports import TableXLSX, UtcDateTimeWidget

    try:
        browse = parse_browse(request.GET)
    except BadBrowse as exc:
        return bad_request(exc)
    formats = {"csv": CSV(), "xlsx": TableXLSX()}
    fmt = formats.get(request.GET.get("format", ""))
    if fmt is None:
        return bad_request(BadBrowse("format must be csv or xlsx"))
    where = browse.where()
    try:
        over = objects_count_over(where, cap)
    except read_errors() as exc:
        return unreadable(exc)
    if over:
        messages.error(request, refusal(cap))
        return HttpResponseRedirect(reverse("admin:reconciliation_storedobject_changelist") + "?" + browse.query())
    from reconciliation.interfaces.views import _cell

    rows = export_rows(where)
    if isinstance(fmt, CSV):  # date-times as the other CSV exports write them
        rows = ([_cell(v) for v in row] for row in rows)
    else:  # XLSX: native cells, date-times naive in UTC as the import-export resources give them
        native = UtcDateTimeWidget().render
        rows = ([native(v, force_native_type=True) if isinstance(v, dt.datetime) else v for v in row]
                for row in rows)
    dataset = tablib.Dataset(*rows, headers=list(EXPORT_HEADERS), title="stored objects")
    response = HttpResponse(fmt.export_data(dataset), content_type=fmt.get_content_type())
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.{fmt.get_extension()}"'
    return response
