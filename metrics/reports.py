"""Metrics reports: one document built from the database, rendered as md, json, html or ipynb.

`report_build` gathers the data (a plain dict, also the json format); the renderers are pure
functions of that dict; `report_write` writes `metrics_report.<ext>` atomically.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.html import escape

from adce_site.cli import to_json

from .charts import history_chart_svg
from .models import MetricDefinition, Snapshot, VerificationRun
from .selectors import NUMERIC_PARSE_TYPES, current_value_of, histories, metrics_with_latest

FORMATS = ("md", "json", "html", "ipynb")
DEFAULT_DAYS = 30
NUMERIC_TYPES = NUMERIC_PARSE_TYPES


class ReportError(Exception):
    pass


# --- data --------------------------------------------------------------------------------------

def report_build(*, days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> dict:
    """The report document: every enabled metric with its latest measurement and history."""
    now = now or timezone.now()
    metrics = list(metrics_with_latest(MetricDefinition.objects.filter(enabled=True)))
    series = histories(metrics, days, now=now)
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    rows = []
    for m in metrics:
        status = m.latest_status or "never"
        by_status[status] = by_status.get(status, 0) + 1
        if m.latest_severity:
            by_severity[m.latest_severity] = by_severity.get(m.latest_severity, 0) + 1
        history = series[m.pk]
        hist = history.as_dict()
        rows.append({
            "metric": m.full_name,
            "category": m.category,
            "name": m.name,
            "kind": m.kind,
            "parse_type": m.parse_type,
            "volatility": m.volatility,
            "critical": m.critical,
            "description": m.description,
            "baseline": m.baseline_value,
            "baseline_set_at": m.baseline_set_at,
            "latest": None if m.latest_id is None else {
                "value": current_value_of(m),
                "status": m.latest_status,
                "severity": m.latest_severity,
                "drift_pct": m.latest_drift_pct,
                "measured_at": m.latest_measured_at,
                "error": m.latest_error or None,
            },
            "history": {"trend": hist["trend"], "stats": hist["stats"], "points": hist["points"]},
        })
    runs = [
        {"id": r.pk, "trigger": r.trigger, "status": r.status, "started_at": r.started_at,
         "duration_ms": r.duration_ms, "summary": r.summary}
        for r in VerificationRun.objects.order_by("-started_at")[:10]
    ]
    return {
        "report": "ADCE metrics report",
        "generated_at": now,
        "history_days": days,
        "summary": {"metrics": len(rows), "by_status": by_status, "by_severity": by_severity},
        "metrics": rows,
        "runs": runs,
        "snapshots": list(Snapshot.objects.order_by("-date").values_list("date", flat=True)[:10]),
    }


# --- renderers ---------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _md(value: Any) -> str:
    return _cell(value).replace("|", "\\|").replace("\n", " ")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def render_md(doc: dict) -> str:
    out = [f"# {doc['report']}", "", f"Generated {_cell(doc['generated_at'])}; history window {doc['history_days']} days.", ""]
    s = doc["summary"]
    out.append(f"**{s['metrics']} metrics** — " + ", ".join(f"{k}: {v}" for k, v in sorted(s["by_status"].items())))
    out += ["", "| metric | kind | baseline | latest | status | severity | drift % | measured at |",
            "|---|---|---|---|---|---|---|---|"]
    for m in doc["metrics"]:
        latest = m["latest"] or {}
        drift = latest.get("drift_pct")
        out.append("| " + " | ".join(_md(x) for x in (
            m["metric"], m["kind"], m["baseline"], latest.get("value"), latest.get("status", "never"),
            latest.get("severity"), None if drift is None else f"{drift:.2f}", latest.get("measured_at"),
        )) + " |")
    out += ["", f"## Trends (last {doc['history_days']} days)", "",
            "| metric | first | last | change | change % | min | max | mean | stddev (population) | measurements | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in doc["metrics"]:
        t, st = m["history"]["trend"], m["history"]["stats"]
        out.append("| " + " | ".join(_md(x) for x in (
            m["metric"], t["first"], t["last"], t["change"], _pct(t["change_pct"]), st["min"], st["max"],
            st["mean"], st["stddev"], len(m["history"]["points"]), st["errors"],
        )) + " |")
    errors = [m for m in doc["metrics"] if m["latest"] and m["latest"]["error"]]
    if errors:
        out += ["", "## Errors", ""]
        out += [f"- **{_md(m['metric'])}**: {_md(m['latest']['error'])}" for m in errors]
    if doc["runs"]:
        out += ["", "## Recent verification runs", "", "| run | trigger | status | started | duration ms | summary |",
                "|---|---|---|---|---|---|"]
        for r in doc["runs"]:
            out.append("| " + " | ".join(_md(x) for x in (
                r["id"], r["trigger"], r["status"], r["started_at"], r["duration_ms"], r["summary"])) + " |")
    return "\n".join(out) + "\n"


def render_json(doc: dict) -> str:
    return to_json(doc) + "\n"


_HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}
th{background:#f4f4f4}
.sev{padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}
.sev-none{background:#888}.sev-low{background:#3b7dd8}.sev-medium{background:#c9a100}
.sev-high{background:#e07000}.sev-critical{background:#c62828}
.chart{margin:1em 0 2em}
"""


def render_html(doc: dict, charts: dict[str, str]) -> str:
    """`charts`: metric name → SVG string (already well-formed and escaped)."""
    e = escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(doc['report'])}</title><style>{_HTML_STYLE}</style></head><body>",
           f"<h1>{e(doc['report'])}</h1>",
           f"<p>Generated {e(_cell(doc['generated_at']))}; history window {doc['history_days']} days; "
           f"{doc['summary']['metrics']} metrics.</p>",
           "<table><thead><tr><th>metric</th><th>kind</th><th>baseline</th><th>latest</th><th>status</th>"
           "<th>severity</th><th>drift %</th><th>trend</th><th>min</th><th>max</th><th>mean</th>"
           "<th>stddev</th><th>measured at</th></tr></thead><tbody>"]
    for m in doc["metrics"]:
        latest = m["latest"] or {}
        t, st = m["history"]["trend"], m["history"]["stats"]
        sev = latest.get("severity") or "none"
        drift = latest.get("drift_pct")
        cells = [
            f'<a href="#m-{e(m["metric"])}">{e(m["metric"])}</a>', e(m["kind"]), e(_cell(m["baseline"])),
            e(_cell(latest.get("value"))), e(latest.get("status", "never")),
            f'<span class="sev sev-{e(sev)}">{e(sev)}</span>' if latest else "—",
            "—" if drift is None else f"{drift:.2f}",
            e(_cell(t["change"])) + (f" ({_pct(t['change_pct'])})" if t["change_pct"] is not None else ""),
            e(_cell(st["min"])), e(_cell(st["max"])), e(_cell(st["mean"])), e(_cell(st["stddev"])),
            e(_cell(latest.get("measured_at"))),
        ]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    out.append(f"<h2>Trends (last {doc['history_days']} days)</h2>")
    for m in doc["metrics"]:
        if m["metric"] not in charts:
            continue
        latest = m["latest"] or {}
        out.append(f'<section class="chart" id="m-{e(m["metric"])}"><h3>{e(m["metric"])}</h3>')
        if latest.get("error"):
            out.append(f"<p>Latest measurement failed: {e(latest['error'])}</p>")
        out.append(charts[m["metric"]] + "</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def html_charts(doc: dict) -> dict[str, str]:
    """An SVG trend chart per numeric metric, from the history points of the document."""
    from .selectors import History, HistoryPoint, Stats, Trend

    charts = {}
    for m in doc["metrics"]:
        if m["parse_type"] not in NUMERIC_TYPES:
            continue
        points = [HistoryPoint(**p) for p in m["history"]["points"]]
        history = History(metric=m["metric"], days=doc["history_days"], since=doc["generated_at"],
                          until=doc["generated_at"], parse_type=m["parse_type"], baseline=m["baseline"],
                          points=points, trend=Trend(), stats=Stats())
        charts[m["metric"]] = history_chart_svg(history, title=f"{m['metric']} (last {doc['history_days']} days)")
    return charts


_SETUP_CELL = '''\
# Set up Django so the cells below can query the ADCE models.
import os
import sys

PROJECT_DIR = {project_dir!r}
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
# Jupyter runs an event loop; the ORM refuses to run inside one unless told it is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The database comes from DATABASE_URL (or the project's .env), as for manage.py: set it
# before this cell if the report was generated against another database than the default.
import django

django.setup()
'''

_LATEST_CELL = '''\
from metrics.models import MetricDefinition, Measurement
from metrics.selectors import current_value_of, metrics_with_latest

for m in metrics_with_latest(MetricDefinition.objects.filter(enabled=True)):
    print(f"{m.full_name:50} {m.latest_status or 'never':10} {current_value_of(m)!r}")
'''

_HISTORY_CELL = '''\
import datetime as dt
from django.utils import timezone

METRIC = {metric!r}  # any "category.name"
DAYS = {days}
if METRIC:
    category, name = METRIC.split(".", 1)
    since = timezone.now() - dt.timedelta(days=DAYS)
    rows = Measurement.objects.filter(metric__category=category, metric__name=name,
                                      measured_at__gte=since).order_by("measured_at")
    for r in rows:
        print(r.measured_at.isoformat(), r.status, repr(r.value), r.error)
'''

_STATS_CELL = '''\
from metrics.charts import history_chart_svg
from metrics.selectors import metric_history

if METRIC:
    history = metric_history(METRIC, DAYS)
    print("trend:", history.trend)
    print("stats (population stddev):", history.stats)
    try:
        from IPython.display import SVG, display
        display(SVG(history_chart_svg(history)))
    except ImportError:  # plain Python: no rich display
        pass
'''


def render_ipynb(doc: dict) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    numeric = [m["metric"] for m in doc["metrics"] if m["parse_type"] in NUMERIC_TYPES]
    first = numeric[0] if numeric else (doc["metrics"][0]["metric"] if doc["metrics"] else "")
    nb = new_notebook(
        cells=[
            new_code_cell(_SETUP_CELL.format(project_dir=str(settings.BASE_DIR))),
            new_markdown_cell(render_md(doc)),
            new_code_cell(_LATEST_CELL),
            new_code_cell(_HISTORY_CELL.format(metric=first, days=doc["history_days"])),
            new_code_cell(_STATS_CELL),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb)


def render(fmt: str, doc: dict) -> str:
    if fmt == "md":
        return render_md(doc)
    if fmt == "json":
        return render_json(doc)
    if fmt == "html":
        return render_html(doc, html_charts(doc))
    if fmt == "ipynb":
        return render_ipynb(doc)
    raise ReportError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


# --- writing -----------------------------------------------------------------------------------

def report_write(fmt: str, output_dir: str | os.PathLike, *, days: int = DEFAULT_DAYS,
                 now: dt.datetime | None = None) -> Path:
    """Write metrics_report.<fmt> into `output_dir` (created if missing); returns its path.
    The file is replaced atomically, so a failure never leaves half a report."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir}: not a directory")
    text = render(fmt, report_build(days=days, now=now))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"metrics_report.{fmt}"
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".metrics_report.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the report from other users
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot write report: {exc.strerror or exc}") from None
    return target
