"""The admin home (adce_site/dashboard.py + templates/admin/index.html) and the site URLs."""
from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from adce_site import dashboard
from approvals.services import approval_request_open_or_update
from metrics.models import Measurement, MetricDefinition, VerificationRun
from reconciliation.choices import Priority
from reconciliation.models import DataType, Gap, ReconcileRun, ScanRun, Source

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)
HOME = "/admin/"


# --- factories (rows as the services write them; the browser tests use the real commands) -----------


def make_source(name="espn", seasons=("2025-26", "2026-27")):
    source = Source.objects.create(name=name, scraper=f"{name}_scraper", location="file:///lake/", seasons=list(seasons))
    data_type = DataType.objects.create(source=source, name="play_by_play", level="game",
                                        path_patterns=["pbp/{game_id}.json"], completeness_threshold=0.95)
    return source, data_type


def make_gaps(data_type, n, *, priority="CRITICAL", season="2026-27", status="open"):
    Gap.objects.bulk_create([
        Gap(source=data_type.source, data_type=data_type, season=season, partition=f"{next(_seq):09d}",
            kind="missing", priority=priority, priority_rank=Priority(priority).rank, status=status)
        for _ in range(n)
    ])


def make_metric(name=None, *, critical=True, baseline=100, parse_type="integer", category="lake", enabled=True):
    return MetricDefinition.objects.create(
        category=category, name=name or f"m{next(_seq)}", kind="s3_object_count", parse_type=parse_type,
        critical=critical, enabled=enabled, params={"location": "file:///lake/"}, baseline_value=baseline,
        baseline_set_at=timezone.now(), baseline_set_by="seed")


def measure(metric, value, *, status="ok", severity="none", drift_pct=0.0, error="", at=None, run=None):
    return Measurement.objects.create(metric=metric, value=value, baseline_value=metric.baseline_value, status=status,
                                      severity=severity, drift_pct=drift_pct, error=error, run=run,
                                      measured_at=at or timezone.now())


def open_request(metric, proposed, *, severity="critical", drift_pct=50.0):
    run = VerificationRun.objects.create(status="completed", update=True, summary={"total": 1, "critical": 1})
    m = measure(metric, proposed, status="critical", severity=severity, drift_pct=drift_pct, run=run)
    return approval_request_open_or_update(metric=metric, proposed_value=proposed, baseline_value=metric.baseline_value,
                                           drift_pct=drift_pct, severity=severity, measurement=m, run=run)


def populate(scale: int, tag: str):
    """A lake's worth of rows; `scale` multiplies everything that grows with data size."""
    _, pbp = make_source(f"espn{tag}")
    _, adv = make_source(f"nba_api{tag}")
    for priority in Priority:
        make_gaps(pbp, 3 * scale, priority=priority)
    make_gaps(adv, 5 * scale, priority="HIGH", season="2025-26")
    make_gaps(adv, 2 * scale, status="resolved")
    # 16 metrics at scale 1 already fill every capped list (charts, drift list, approvals shown), so
    # only the data size changes between the two measurements of the query count.
    for i in range(16 * scale):
        metric = make_metric(critical=i % 2 == 0)
        for day in range(3 * scale):
            measure(metric, 100 + day, at=timezone.now() - dt.timedelta(days=day))
        if i % 3 == 0:
            open_request(metric, 300)
        if i % 2 == 0:
            measure(metric, None, status="error", severity="high", drift_pct=None, error="boom")
    for _ in range(scale):
        ScanRun.objects.create(status="completed", finished_at=timezone.now(), objects_seen=10)
        ReconcileRun.objects.create(status="completed", as_of=dt.date(2026, 11, 22), finished_at=timezone.now())


def home_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(HOME)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- the page ---------------------------------------------------------------------------------------


def test_fresh_install_home_shows_how_to_start(admin_client):
    response = admin_client.get(HOME)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="fresh-install-hint"' in html
    assert "manage.py demo" in html
    for hint in ("manage.py verify --update", "manage.py scan", "manage.py reconcile", "manage.py import_coverage FILE",
                 "manage.py import_metrics FILE"):
        assert hint in html
    # The standard app list is still there, below the dashboard.
    assert html.index('id="adce-dashboard"') < html.index('class="app-reconciliation')


def test_home_needs_a_staff_login(client):
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_home_query_count_does_not_grow_with_data(admin_client, django_assert_max_num_queries):
    populate(1, "a")
    small = home_queries(admin_client)
    populate(4, "b")  # four times more gaps, metrics, measurements, requests and runs
    with django_assert_max_num_queries(small):
        large = admin_client.get(HOME)
    assert large.status_code == 200
    assert small <= 30


def test_home_answers_the_daily_questions(admin_client):
    _, pbp = make_source("espn")
    make_gaps(pbp, 3, priority="CRITICAL")
    make_gaps(pbp, 2, priority="LOW")
    make_gaps(pbp, 4, priority="LOW", status="resolved")
    total = make_metric("total_objects", baseline=1000)
    req = open_request(total, 400, drift_pct=60.0)
    failing = make_metric("size_mb", critical=False)
    measure(failing, None, status="error", severity="high", drift_pct=None, error="access denied")
    calm = make_metric("age_hours", critical=False)
    measure(calm, 130, status="major", severity="high", drift_pct=30.0)
    ScanRun.objects.create(status="failed", error="s3://bucket/: AccessDenied", finished_at=timezone.now())

    html = admin_client.get(HOME).content.decode()
    assert 'id="fresh-install-hint"' not in html
    assert reverse("admin:approvals_approvalrequest_review", args=[req.pk]) in html
    assert "lake.total_objects" in html and "1000 → <strong>400</strong>" in html
    gaps_url = reverse("admin:reconciliation_gap_changelist")
    assert f'{gaps_url}?priority__exact=CRITICAL&amp;status__exact=open">3<' in html
    assert f'{gaps_url}?priority__exact=LOW&amp;status__exact=open">2<' in html
    assert "s3://bucket/: AccessDenied" in html  # a failed scan shows with its reason
    assert "Never run — <code>manage.py reconcile</code>" in html
    assert "access denied" in html  # error metrics are in the drift panel …
    assert "lake.age_hours" not in html  # … high severity is not severe drift


def test_the_home_says_critical_of_critical_metrics_only(admin_client):
    """Drift severity is "severe drift"; "critical" is kept for critical metrics (approval-gated)."""
    crit = make_metric("total_objects", baseline=1000)
    measure(crit, 400, status="critical", severity="critical", drift_pct=60.0)
    open_request(crit, 400, drift_pct=60.0)  # a pending request of severity "critical"
    VerificationRun.objects.create(status="completed", summary={"total": 1, "critical": 1})
    html = admin_client.get(HOME).content.decode()
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S))
    # Lower-case "critical" only ever qualifies a metric; gap priorities are the upper-case CRITICAL.
    assert [m.group(0) for m in re.finditer(r"\bcritical\b(?! metric)", text)] == []
    assert "1 severe" in text and "severity critical" not in text
    assert "metric in severe drift or error" in text and "Metrics in severe drift or error" in text
    assert re.search(r'<span class="badge critical"[^>]*>severe</span> <small>critical metric</small>', html)


# --- the selectors ----------------------------------------------------------------------------------


def test_gaps_by_priority_counts_open_gaps_only_in_priority_order():
    _, pbp = make_source()
    make_gaps(pbp, 2, priority="MEDIUM")
    make_gaps(pbp, 1, priority="CRITICAL")
    make_gaps(pbp, 5, priority="CRITICAL", status="ignored")
    make_gaps(pbp, 7, priority="HIGH", status="resolved")
    rows, total = dashboard.gaps_by_priority()
    assert [(r.priority, r.count) for r in rows] == [("CRITICAL", 1), ("HIGH", 0), ("MEDIUM", 2), ("LOW", 0)]
    assert total == 3


def test_pending_approvals_are_counted_exactly_and_listed_critical_first():
    for i in range(dashboard.PENDING_SHOWN + 2):
        open_request(make_metric(), 500, severity="high" if i < 4 else "critical")
    board = dashboard.dashboard_build()
    assert board.pending_count == dashboard.PENDING_SHOWN + 2
    assert len(board.pending) == dashboard.PENDING_SHOWN
    assert [r.severity for r in board.pending] == ["critical"] * 3 + ["high"] * 2


def test_critical_drift_lists_critical_severity_and_errors_of_enabled_metrics():
    crit = make_metric("crit")
    measure(crit, 10, status="major", severity="critical", drift_pct=20.0)  # stable + major = critical
    err = make_metric("err")
    measure(err, 100)
    measure(err, None, status="error", severity="high", drift_pct=None, error="timeout")
    recovered = make_metric("recovered")
    measure(recovered, None, status="error", severity="high", error="once", at=timezone.now() - dt.timedelta(hours=1))
    measure(recovered, 100)
    off = make_metric("off", enabled=False)
    measure(off, None, status="error", severity="high", error="x")
    count, shown = dashboard.severe_drift()
    assert count == 2
    assert [m.full_name for m in shown] == ["lake.crit", "lake.err"]
    assert shown[0].current_value == 10 and shown[1].current_value is None


def test_critical_drift_count_is_exact_beyond_the_list():
    for _ in range(dashboard.DRIFT_SHOWN + 3):
        measure(make_metric(), None, status="error", severity="high", error="x")
    count, shown = dashboard.severe_drift()
    assert (count, len(shown)) == (dashboard.DRIFT_SHOWN + 3, dashboard.DRIFT_SHOWN)


def test_charts_default_to_critical_numeric_metrics(settings):
    settings.ADCE_DASHBOARD_CHARTS = None
    a = make_metric("a")
    make_metric("b", critical=False)
    make_metric("c", parse_type="string", baseline="x")
    for i in range(3):
        measure(a, 100 + i, at=timezone.now() - dt.timedelta(hours=3 - i))
    charts = dashboard.trend_charts()
    assert [c.metric.full_name for c in charts] == ["lake.a"]
    assert charts[0].svg.startswith("<svg") and "polyline" in charts[0].svg


def test_charts_follow_the_setting_in_its_order(settings):
    make_metric("a")
    make_metric("b", critical=False)
    settings.ADCE_DASHBOARD_CHARTS = ["lake.b", "lake.missing", "lake.a"]
    assert [m.full_name for m in dashboard.chart_metrics()] == ["lake.b", "lake.a"]


def test_last_runs_show_the_newest_of_each_kind_whatever_its_status():
    now = timezone.now()
    ScanRun.objects.create(status="completed", started_at=now - dt.timedelta(hours=2), finished_at=now)
    failed = ScanRun.objects.create(status="failed", started_at=now - dt.timedelta(hours=1), error="boom")
    ReconcileRun.objects.create(status="completed", as_of=dt.date(2026, 11, 22), finished_at=now,
                                summary={"gaps": {"total": 9, "opened": 2, "resolved": 1}, "tasks": {"created": 1}})
    verify, scan, reconcile = dashboard.last_runs()
    assert verify.run is None and verify.hint == "manage.py verify --update"
    assert (scan.run, scan.status, scan.facts) == (failed, "failed", "boom")
    assert scan.url == reverse("admin:reconciliation_scanrun_change", args=[failed.pk])
    assert reconcile.facts.startswith("as of 2026-11-22: 9 gaps (2 opened, 1 resolved), 1 tasks created")


def test_coverage_panel_links_cells_to_their_gaps_and_counts_colours():
    _, pbp = make_source(seasons=["2026-27"])
    make_gaps(pbp, 2)
    matrix, rows, summary = dashboard.coverage_panel()
    (cell,) = rows[0]["cells"]
    assert cell["cell"].open_gaps == 2
    assert f"data_type__id__exact={pbp.pk}" in cell["url"] and "season=2026-27" in cell["url"]
    assert (summary.unknown, summary.cells) == (1, 1)  # no reconcile yet: not measured


# --- the site URLs and the header ---------------------------------------------------------------------


def test_short_coverage_url_serves_the_matrix(admin_client):
    make_source()
    response = admin_client.get("/admin/coverage/")
    assert response.status_code == 200
    assert b'id="coverage-matrix"' in response.content


def test_short_coverage_url_is_staff_only_and_permission_checked(client):
    assert client.get("/admin/coverage/").status_code == 302
    staff = User.objects.create_user("sam", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/coverage/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_gap"))
    assert client.get("/admin/coverage/").status_code == 200


def test_every_admin_page_has_the_adce_navigation(admin_client):
    html = admin_client.get(reverse("admin:reconciliation_gap_changelist")).content.decode()
    assert 'id="adce-nav"' in html
    for url in ("/admin/coverage/", reverse("admin:approvals_approvalrequest_changelist"),
                reverse("admin:reconciliation_task_changelist"), reverse("admin:metrics_verificationrun_changelist")):
        assert f'href="{url}' in html


def test_login_page_is_branded_without_navigation(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert "ADCE" in html and "Data lake operations" in html
    assert 'id="adce-nav"' not in html
