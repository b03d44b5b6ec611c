"""Admin exports (adce_site/exports.py): the same timestamps in CSV and XLSX (UTC ISO-8601, second
precision, trailing Z), dates as dates, and a sheet named after the table."""
import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.urls import reverse

from metrics.resources import MeasurementResource
from reconciliation.models import Gap
from reconciliation.interfaces.resources import GapResource
from tests.metrics.reports_factories import make_metric, measure
from tests.reconciliation.test_tasks import make_gap, make_source, make_type

pytestmark = pytest.mark.django_db
CSV_INDEX, XLSX_INDEX = 0, 1
SEEN = dt.datetime(2026, 11, 20, 8, 0, 5, 123456, tzinfo=dt.timezone.utc)


@pytest.fixture
def admin_client(client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TIME_ZONE = "America/New_York"  # an export must not depend on the server's zone
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def _export(client, url, resource, fields, fmt):
    data = {"format": fmt, "resource": 0, **{f"{resource.__name__.lower()}_{f}": "on" for f in fields}}
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:300]
    return response


@pytest.fixture
def gap():
    pbp = make_type(make_source())
    g = make_gap(pbp, "401000001")
    Gap.objects.filter(pk=g.pk).update(first_seen_at=SEEN, game_date=dt.date(2024, 11, 1))
    return g


def test_gap_export_csv_and_xlsx_agree_on_utc_iso_timestamps(admin_client, gap):
    url = reverse("admin:reconciliation_gap_export")
    fields = ["id", "game_date", "first_seen_at", "resolved_at"]
    rows = list(csv.DictReader(io.StringIO(_export(admin_client, url, GapResource, fields, CSV_INDEX)
                                           .content.decode("utf-8-sig"))))
    assert rows == [{"id": str(gap.pk), "game_date": "2024-11-01", "first_seen_at": "2026-11-20T08:00:05Z",
                     "resolved_at": ""}]

    book = openpyxl.load_workbook(io.BytesIO(_export(admin_client, url, GapResource, fields, XLSX_INDEX).content))
    assert book.sheetnames == ["gaps"]
    header, row = list(book.active.iter_rows(min_row=1, max_row=2))
    cells = {h.value: c for h, c in zip(header, row)}
    assert cells["first_seen_at"].value == dt.datetime(2026, 11, 20, 8, 0, 5)  # UTC, a real date-time cell
    assert cells["first_seen_at"].number_format == 'yyyy-mm-dd"T"hh:mm:ss"Z"'
    assert cells["game_date"].value == dt.datetime(2024, 11, 1) and cells["game_date"].number_format == "yyyy-mm-dd"
    assert cells["game_date"].is_date and cells["resolved_at"].value is None


def test_measurement_export_names_its_sheet_and_keeps_utc(admin_client):
    metric = make_metric("lake.total_objects", baseline=100)
    measure(metric, 100, SEEN.astimezone(ZoneInfo("Asia/Tokyo")))
    url = reverse("admin:metrics_measurement_export")
    rows = list(csv.DictReader(io.StringIO(_export(admin_client, url, MeasurementResource, ["metric", "measured_at"],
                                                   CSV_INDEX).content.decode("utf-8-sig"))))
    assert rows == [{"metric": "lake.total_objects", "measured_at": "2026-11-20T08:00:05Z"}]
    book = openpyxl.load_workbook(io.BytesIO(
        _export(admin_client, url, MeasurementResource, ["metric", "measured_at"], XLSX_INDEX).content))
    assert book.sheetnames == ["measurements"]
    assert book.active["B2"].value == dt.datetime(2026, 11, 20, 8, 0, 5)


def test_sheet_titles_follow_excel_rules():
    from adce_site.exports import sheet_title

    assert sheet_title("stored objects") == "stored objects"
    assert sheet_title("a/b:c" + "x" * 40) == ("a b c" + "x" * 40)[:31]
    assert sheet_title("") == "export"
