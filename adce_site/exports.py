"""What every admin export (django-import-export, CSV and XLSX) shares, so that a file reads the same
whichever table or format it came from:

* timestamps are UTC ISO-8601 with a trailing Z, to the second (`2026-11-20T08:00:00Z`), as in the
  streaming CSV export and the §8 queue file; in XLSX they stay real date-time cells (sortable,
  filterable) displayed in that same form;
* dates are dates: `2026-11-20` in CSV, a date cell formatted yyyy-mm-dd in XLSX;
* an XLSX file's sheet is named after the table ("gaps", "measurements"), not "Tablib Dataset".
"""
from __future__ import annotations

import datetime as dt
import io

from import_export import resources, widgets
from import_export.formats import base_formats
from import_export.formats.base_formats import XLSX

XLSX_DATETIME_FORMAT = 'yyyy-mm-dd"T"hh:mm:ss"Z"'
XLSX_DATE_FORMAT = "yyyy-mm-dd"
_SHEET_TITLE_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:  # stored naive only with USE_TZ off: taken as UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(microsecond=0)


class UtcDateTimeWidget(widgets.DateTimeWidget):
    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, dt.datetime):
            return None if kwargs.get("force_native_type") else ""
        value = _utc(value)
        if kwargs.get("force_native_type"):  # XLSX: a naive date-time cell (Excel has no time zones), in UTC
            return value.replace(tzinfo=None)
        return value.isoformat().replace("+00:00", "Z")


class IsoDateWidget(widgets.DateWidget):
    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, dt.date):
            return None if kwargs.get("force_native_type") else ""
        return value if kwargs.get("force_native_type") else value.isoformat()


class ExportResource(resources.ModelResource):
    """Base of the export resources: the widgets above, and the dataset titled after the table."""

    WIDGETS_MAP = {**resources.ModelResource.WIDGETS_MAP, "DateTimeField": UtcDateTimeWidget,
                   "DateField": IsoDateWidget}

    def export(self, queryset=None, **kwargs):
        dataset = super().export(queryset, **kwargs)
        dataset.title = str(self._meta.model._meta.verbose_name_plural)
        return dataset


def sheet_title(title: str | None) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, not empty."""
    return (title or "export").translate(_SHEET_TITLE_FORBIDDEN).strip()[:31] or "export"


class TableXLSX(XLSX):
    """XLSX with the sheet named after the dataset, date-times shown as ISO-8601 UTC and dates as dates.
    Characters XML cannot carry (control characters in a stored key) become U+FFFD instead of failing."""

    def export_data(self, dataset, **kwargs):
        import openpyxl
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(title=sheet_title(dataset.title))
        sheet.append(list(dataset.headers or []))
        for row in dataset:
            cells = []
            for value in row:
                if isinstance(value, str):
                    value = ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, dt.datetime):
                    cell.number_format = XLSX_DATETIME_FORMAT
                elif isinstance(value, dt.date):
                    cell.number_format = XLSX_DATE_FORMAT
                cells.append(cell)
            sheet.append(cells)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


# import-export hands native values (numbers, date-times) only to the formats in this list, compared by
# exact type: a subclass must be listed too (it is the same list object the admin reads).
if TableXLSX not in base_formats.BINARY_FORMATS:
    base_formats.BINARY_FORMATS.append(TableXLSX)
