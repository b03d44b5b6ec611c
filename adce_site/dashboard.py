"""Reads for the admin home: the daily questions answered at a glance.

Every panel is a bounded, aggregated read, so the home costs a constant number of queries whatever the
size of the lake (millions of gaps or measurements): counts are GROUP BYs, lists are sliced, the coverage
matrix comes from `reconciliation.selectors.coverage_matrix` (three queries), and each trend chart reads
at most CHART_POINTS measurements of one of at most CHART_METRICS metrics.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.safestring import mark_safe

from adce_site.humanize import duration_ms_label
from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from approvals.selectors import approval_requests_pending, is_number, metric_history_points
from metrics.charts import line_chart_svg
from metrics.choices import DRIFT_DISPLAY_ORDER, DriftStatus, ParseType, Severity
from metrics.models import MetricDefinition, VerificationRun
from metrics.selectors import current_value_of, metrics_with_latest
from reconciliation.choices import GapStatus, Priority
from reconciliation.models import Gap, ReconcileRun, ScanRun
from reconciliation.selectors import coverage_matrix, task_status_counts
from reconciliation.interfaces.views import coverage_matrix_rows

PENDING_SHOWN = 5       # approval requests listed (the count is exact)
DRIFT_SHOWN = 10        # metrics in severe drift listed (the count is exact)
CHART_METRICS = 4       # trend charts on the home
CHART_POINTS = 120      # newest measurements per chart
CHART_SIZE = {"width": 600, "height": 170}


@dataclass
class PriorityCount:
    priority: str
    count: int
    url: str


@dataclass
class RunPanel:
    kind: str             # "verify" | "scan" | "reconcile"
    label: str
    run: Any              # the newest run of that kind, or None
    status: str = ""
    when: dt.datetime | None = None
    facts: str = ""       # one line: what the run found
    url: str = ""         # the run's admin page
    list_url: str = ""    # all runs of that kind
    hint: str = ""        # what to run when there is none yet


@dataclass
class Chart:
    metric: MetricDefinition
    svg: str
    url: str


@dataclass
class CoverageSummary:
    green: int = 0
    amber: int = 0
    red: int = 0
    unknown: int = 0
    notjudged: int = 0  # §10: no catalog, or an open dimension without a count

    @property
    def cells(self) -> int:
        return self.green + self.amber + self.red + self.unknown + self.notjudged


@dataclass
class Dashboard:
    pending_count: int
    pending: list[ApprovalRequest]
    gaps_by_priority: list[PriorityCount]
    open_gaps: int
    coverage: Any                       # reconciliation.selectors.CoverageMatrix
    coverage_rows: list[dict]
    coverage_summary: CoverageSummary
    runs: list[RunPanel]
    drift_count: int
    drifting: list[MetricDefinition]
    metric_count: int
    charts: list[Chart]
    tasks: dict[str, int]
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def is_fresh_install(self) -> bool:
        """Nothing imported and nothing run yet: the home shows how to start."""
        return (self.metric_count == 0 and not self.coverage.rows
                and all(panel.run is None for panel in self.runs))


# --- panels ------------------------------------------------------------------------------------


def _gaps_url(**params) -> str:
    return reverse("admin:reconciliation_gap_changelist") + "?" + urlencode(params)


def gaps_by_priority() -> tuple[list[PriorityCount], int]:
    """Open gaps per priority (all four, most urgent first), one GROUP BY."""
    counts = dict(Gap.objects.filter(status=GapStatus.OPEN).values_list("priority").annotate(n=Count("id")).order_by())
    rows = [PriorityCount(p, counts.get(p, 0), _gaps_url(priority__exact=p, status__exact=GapStatus.OPEN))
            for p in Priority.values]
    return rows, sum(r.count for r in rows)


def coverage_panel():
    """The coverage matrix with a gap-list link per cell, and how many cells are green/amber/red."""
    matrix = coverage_matrix()
    rows = coverage_matrix_rows(matrix)
    summary = CoverageSummary()
    for row in rows:
        for entry in row["cells"]:
            if entry is not None:
                colour = entry["cell"].colour
                setattr(summary, colour, getattr(summary, colour) + 1)
    return matrix, rows, summary


def _verify_facts(run: VerificationRun) -> str:
    s = run.summary or {}
    if not s:
        return run.error or ""
    parts = [f"{s.get('total', 0)} metrics"]
    for key in DRIFT_DISPLAY_ORDER:
        if s.get(key):  # the drift status "critical" reads "severe" on the home (see severe_drift)
            parts.append(f"{s[key]} {'severe' if key == DriftStatus.CRITICAL else key}")
    if s.get("pending_approval"):
        parts.append(f"{s['pending_approval']} pending approval")
    return ", ".join(parts)


def _scan_facts(run: ScanRun) -> str:
    if run.error:
        return run.error
    text = f"{run.mode}: {run.objects_seen:,} objects, {run.matched_count:,} matched, {run.unmatched_count:,} unmatched"
    if run.estimated_objects is not None:
        text += f" (≈ {run.estimated_objects:,} estimated)"
    return text


def _reconcile_facts(run: ReconcileRun) -> str:
    if run.error:
        return run.error
    gaps = (run.summary or {}).get("gaps") or {}
    tasks = (run.summary or {}).get("tasks") or {}
    if not gaps:
        return f"as of {run.as_of:%Y-%m-%d}"
    return (f"as of {run.as_of:%Y-%m-%d}: {gaps.get('total', 0):,} gaps "
            f"({gaps.get('opened', 0):,} opened, {gaps.get('resolved', 0):,} resolved), "
            f"{tasks.get('created', 0):,} tasks created")


def last_runs() -> list[RunPanel]:
    """The newest verification, scan and reconcile run whatever their status (a failure must show)."""
    verify = VerificationRun.objects.order_by("-started_at", "-pk").first()
    scan = ScanRun.objects.order_by("-started_at", "-pk").first()
    reconcile = ReconcileRun.objects.order_by("-started_at", "-pk").first()
    panels = []
    for kind, label, run, model, facts, hint in (
        ("verify", "Verify", verify, "metrics_verificationrun", _verify_facts, "manage.py verify --update"),
        ("scan", "Scan", scan, "reconciliation_scanrun", _scan_facts, "manage.py scan"),
        ("reconcile", "Reconcile", reconcile, "reconciliation_reconcilerun", _reconcile_facts, "manage.py reconcile"),
    ):
        panel = RunPanel(kind=kind, label=label, run=run, list_url=reverse(f"admin:{model}_changelist"), hint=hint)
        if run is not None:
            panel.status = run.status
            panel.when = run.finished_at or run.started_at
            panel.facts = facts(run)
            duration = duration_ms_label(run.duration_ms) if run.duration_ms is not None else ""
            if duration:
                panel.facts = f"{panel.facts} — {duration}" if panel.facts else duration
            panel.url = reverse(f"admin:{model}_change", args=[run.pk])
        panels.append(panel)
    return panels


def severe_drift() -> tuple[int, list[MetricDefinition]]:
    """Enabled metrics whose latest measurement has severity "critical", or is an error (count, first
    DRIFT_SHOWN). The page says "severe drift": on the dashboard "critical" means a critical metric
    (one whose baseline moves only with an approval), never a drift severity (docs/admin.md)."""
    qs = (metrics_with_latest(MetricDefinition.objects.filter(enabled=True))
          .filter(Q(latest_severity=Severity.CRITICAL) | Q(latest_status=DriftStatus.ERROR))
          .order_by("category", "name"))
    shown = list(qs[:DRIFT_SHOWN])
    count = len(shown) if len(shown) < DRIFT_SHOWN else qs.count()
    for metric in shown:
        metric.current_value = current_value_of(metric)
        metric.drift_label = "error" if metric.latest_status == DriftStatus.ERROR else "severe"
        metric.admin_url = reverse("admin:metrics_metricdefinition_change", args=[metric.pk])
    return count, shown


def chart_metrics() -> list[MetricDefinition]:
    """The key metrics to chart: settings.ADCE_DASHBOARD_CHARTS (dotted names) when set, else the
    critical numeric ones (those a human approves), by name — at most CHART_METRICS."""
    numeric = MetricDefinition.objects.filter(enabled=True, parse_type__in=[ParseType.INTEGER, ParseType.FLOAT])
    names = list(getattr(settings, "ADCE_DASHBOARD_CHARTS", None) or [])[:CHART_METRICS]
    if names:
        wanted = Q(pk__in=[])
        for dotted in names:
            category, _, name = str(dotted).partition(".")
            wanted |= Q(category=category, name=name)
        found = {m.full_name: m for m in numeric.filter(wanted)}
        return [found[n] for n in names if n in found]
    return list(numeric.filter(critical=True).order_by("category", "name")[:CHART_METRICS])


def trend_charts() -> list[Chart]:
    charts = []
    for metric in chart_metrics():
        points, errors = metric_history_points(metric, limit=CHART_POINTS)
        baseline = metric.baseline_value if is_number(metric.baseline_value) else None
        svg = line_chart_svg(points, title=metric.full_name, errors=errors, baseline=baseline, **CHART_SIZE)
        # line_chart_svg escapes every piece of text it draws.
        charts.append(Chart(metric=metric, svg=mark_safe(svg),
                            url=reverse("admin:metrics_metricdefinition_change", args=[metric.pk])))
    return charts


def dashboard_build() -> Dashboard:
    gap_rows, open_gaps = gaps_by_priority()
    matrix, cov_rows, cov_summary = coverage_panel()
    drift_count, drifting = severe_drift()
    return Dashboard(
        pending_count=ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count(),
        pending=list(approval_requests_pending()[:PENDING_SHOWN]),
        gaps_by_priority=gap_rows,
        open_gaps=open_gaps,
        coverage=matrix,
        coverage_rows=cov_rows,
        coverage_summary=cov_summary,
        runs=last_runs(),
        drift_count=drift_count,
        drifting=drifting,
        metric_count=MetricDefinition.objects.filter(enabled=True).count(),
        charts=trend_charts(),
        tasks=task_status_counts(),
        urls={
            "approvals": reverse("admin:approvals_approvalrequest_changelist"),
            "gaps": _gaps_url(status__exact=GapStatus.OPEN),
            "coverage": reverse("adce_coverage"),
            "tasks": reverse("admin:reconciliation_task_changelist"),
            "tasks_pending": reverse("admin:reconciliation_task_changelist") + "?status__exact=pending",
            "tasks_claimed": reverse("admin:reconciliation_task_changelist") + "?status__exact=claimed",
            "tasks_failed": reverse("admin:reconciliation_task_changelist") + "?status__exact=failed",
            "drift_error": reverse("admin:metrics_metricdefinition_changelist") + "?latest_status=error",
            "metrics": reverse("admin:metrics_metricdefinition_changelist"),
        },
    )
