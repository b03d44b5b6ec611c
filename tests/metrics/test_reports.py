import datetime as dt
import json
import xml.etree.ElementTree as ET

import nbformat
import pytest

from metrics.reports import ReportError, render_html, html_charts, render_md, report_build, report_write
from tests.metrics.reports_factories import make_metric, make_run, measure

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def lake():
    run = make_run(trigger="manual", status="completed", duration_ms=1234, summary={"total": 3, "ok": 1, "error": 1})
    a = make_metric("s3.objects", baseline=100)
    measure(a, 100, NOW - dt.timedelta(days=2), run=run)
    measure(a, 130, NOW - dt.timedelta(days=1), run=run, status="critical", severity="critical", drift_pct=30.0)
    b = make_metric("git.branch", parse_type="string", kind="sql_scalar")
    measure(b, "main | dev", NOW - dt.timedelta(days=1))
    c = make_metric("files.size_mb", parse_type="float")
    measure(c, 1.5, NOW - dt.timedelta(days=2))
    measure(c, None, NOW - dt.timedelta(days=1), status="error", error="No such folder: /data")
    make_metric("off.metric", enabled=False)
    return a, b, c


def test_report_build_document(lake):
    doc = report_build(days=7, now=NOW)
    names = [m["metric"] for m in doc["metrics"]]
    assert names == ["files.size_mb", "git.branch", "s3.objects"]  # enabled only, by name
    objects = doc["metrics"][2]
    assert objects["latest"]["value"] == 130 and objects["latest"]["severity"] == "critical"
    assert objects["history"]["trend"]["change"] == 30
    size = doc["metrics"][0]
    assert size["latest"]["value"] is None and size["latest"]["error"] == "No such folder: /data"
    assert size["history"]["stats"]["errors"] == 1
    assert doc["summary"]["by_status"] == {"critical": 1, "ok": 1, "error": 1}
    assert doc["runs"][0]["duration_ms"] == 1234


def test_markdown_escapes_pipes_and_lists_errors(lake):
    md = render_md(report_build(days=7, now=NOW))
    assert "main \\| dev" in md
    assert "| s3.objects | s3_object_count | 100 | 130 | critical | critical | 30.00 |" in md
    assert "**files.size_mb**: No such folder: /data" in md


def test_html_has_a_well_formed_svg_chart_per_numeric_metric(lake):
    doc = report_build(days=7, now=NOW)
    charts = html_charts(doc)
    assert set(charts) == {"s3.objects", "files.size_mb"}  # the string metric has no chart
    for svg in charts.values():
        ET.fromstring(svg)
    html = render_html(doc, charts)
    assert html.count("<svg") == 2
    assert "<script" not in html


@pytest.mark.parametrize("fmt", ["md", "json", "html", "ipynb"])
def test_report_write_each_format(lake, tmp_path, fmt):
    path = report_write(fmt, tmp_path / "out", days=7, now=NOW)
    assert path == tmp_path / "out" / f"metrics_report.{fmt}"
    text = path.read_text()
    if fmt == "json":
        assert json.loads(text)["metrics"][2]["latest"]["value"] == 130
    if fmt == "html":
        assert "<svg" in text
    if fmt == "ipynb":
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        setup = nb.cells[0]
        assert setup.cell_type == "code"
        assert "django.setup()" in setup.source and "DJANGO_SETTINGS_MODULE" in setup.source
        assert "sys.path" in setup.source
        assert any("MetricDefinition" in c.source for c in nb.cells[1:] if c.cell_type == "code")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_report_write_refuses_a_file_as_output(tmp_path, db):
    target = tmp_path / "file"
    target.write_text("keep")
    with pytest.raises(ReportError):
        report_write("md", target)
    assert target.read_text() == "keep"


def test_report_write_unknown_format(tmp_path, db):
    with pytest.raises(ReportError):
        report_write("pdf", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_empty_database_reports(tmp_path, db):
    for fmt in ("md", "json", "html", "ipynb"):
        assert report_write(fmt, tmp_path).exists()
