"""The operator's flows in a real browser: log in, the home, the coverage matrix through to a cell's
gaps, approving and rejecting baseline changes, exporting gaps to XLSX."""
from __future__ import annotations

import re

import openpyxl
import pytest
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from metrics.models import MetricDefinition
from reconciliation.models import Gap, ReconcileRun, Task

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _pending(full_name: str) -> ApprovalRequest:
    category, name = full_name.split(".")
    return ApprovalRequest.objects.select_related("metric").get(
        metric__category=category, metric__name=name, status="pending")


def test_login_shows_the_dashboard(logged_in, screenshot):
    page = logged_in
    dash = page.locator("#adce-dashboard")
    expect(dash).to_be_visible()
    pending = ApprovalRequest.objects.filter(status="pending").count()
    assert pending == 2  # lake.total_objects and lake.total_size_mb
    expect(page.locator("#tile-approvals .num")).to_have_text(str(pending))
    open_gaps = Gap.objects.filter(status="open").count()
    assert open_gaps > 0
    expect(page.locator("#tile-gaps .num")).to_have_text(str(open_gaps))
    expect(page.locator("#panel-approvals")).to_contain_text("lake.total_objects")
    for kind in ("verify", "scan", "reconcile"):
        expect(page.locator(f"#run-{kind} .badge")).to_have_text("completed")
    expect(page.locator("#panel-drift")).to_contain_text("lake.total_objects")
    expect(page.locator("#panel-charts svg")).to_have_count(4)
    expect(page.locator("#dashboard-coverage")).to_be_visible()
    expect(page.locator("#fresh-install-hint")).to_have_count(0)
    # The standard app list is still below the dashboard.
    expect(page.locator("#content-main .app-reconciliation")).to_be_visible()
    screenshot(page, "home")


def test_fresh_install_home_says_how_to_start(logged_in_fresh, screenshot):
    page = logged_in_fresh
    expect(page.locator("#fresh-install-hint")).to_contain_text("manage.py demo")
    expect(page.locator("#tile-approvals .num")).to_have_text("0")
    expect(page.locator("#run-scan")).to_contain_text("Never run")
    expect(page.locator("#panel-coverage")).to_contain_text("manage.py import_coverage FILE")
    screenshot(page, "home-empty")


def test_coverage_matrix_cell_leads_to_its_gaps(logged_in, screenshot):
    page = logged_in
    page.locator("#adce-nav").get_by_role("link", name="Coverage matrix").click()
    page.wait_for_url("**/admin/coverage/")
    expect(page.locator("#coverage-matrix")).to_be_visible()
    screenshot(page, "coverage")

    # The NBA API scraper fell behind this season in the demo lake: that cell has open gaps.
    gap = (Gap.objects.filter(status="open", source__name="nba_api", data_type__name="boxscores_advanced")
           .order_by("-season").first())
    assert gap is not None
    expected = Gap.objects.filter(status="open", data_type=gap.data_type, season=gap.season)
    cell = page.locator(f'#coverage-matrix td[data-type="nba_api.boxscores_advanced"][data-season="{gap.season}"] a')
    expect(cell).to_contain_text(f"{expected.count()} open")
    cell.click()

    page.wait_for_url(re.compile(r"/admin/reconciliation/gap/\?"))
    assert f"data_type__id__exact={gap.data_type_id}" in page.url
    assert "status__exact=open" in page.url
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(min(expected.count(), 100))
    partitions = set(expected.values_list("partition", flat=True))
    shown = rows.locator("th, td.field-partition_label").all_inner_texts()
    assert shown and set(shown) <= partitions
    for text in rows.locator("td.field-data_type_label").all_inner_texts():
        assert text == "nba_api.boxscores_advanced"
    for text in rows.locator("td.field-season").all_inner_texts():
        assert text == gap.season
    screenshot(page, "gaps")


def test_approve_a_pending_request_moves_the_baseline(logged_in, screenshot):
    page = logged_in
    req = _pending("lake.total_objects")
    old_baseline = req.metric.baseline_value
    assert req.proposed_value != old_baseline

    page.locator("#panel-approvals").get_by_role("link", name="lake.total_objects").click()
    page.wait_for_url(f"**/admin/approvals/approvalrequest/{req.pk}/review/")
    expect(page.locator("#approval-status")).to_have_text("pending")
    expect(page.locator(".approval-review svg")).to_be_visible()
    screenshot(page, "review")

    page.fill("#id_notes", "Two folders were archived on purpose.")
    page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.locator(".messagelist .success")).to_contain_text(f"#{req.pk} (lake.total_objects) approved")

    req.refresh_from_db()
    metric = MetricDefinition.objects.get(pk=req.metric_id)
    assert (req.status, req.reviewer, req.notes, req.applied) == ("approved", "olivia",
                                                                  "Two folders were archived on purpose.", True)
    assert metric.baseline_value == req.proposed_value
    assert isinstance(metric.baseline_value, int)  # typed per parse_type, not a string
    assert metric.baseline_set_by == "olivia"

    # The page shows it too: the request's review page and the metric's admin page.
    page.goto(f"/admin/approvals/approvalrequest/{req.pk}/review/")
    expect(page.locator("#approval-status")).to_have_text("approved")
    expect(page.locator(".approval-review")).to_contain_text(f"{metric.baseline_value} (set by olivia")
    page.goto(f"/admin/metrics/metricdefinition/{metric.pk}/change/")
    expect(page.locator(".field-baseline_value .readonly")).to_have_text(str(metric.baseline_value))


def test_reject_a_pending_request_keeps_the_baseline(logged_in):
    page = logged_in
    req = _pending("lake.total_size_mb")
    old_baseline = req.metric.baseline_value

    page.get_by_role("link", name=re.compile("pending approval")).click()
    page.wait_for_url("**/admin/approvals/approvalrequest/")
    page.locator("#result_list").get_by_role("link", name="lake.total_size_mb").click()
    page.wait_for_url(f"**/admin/approvals/approvalrequest/{req.pk}/review/")
    page.fill("#id_notes", "Not expected: investigate the archive job.")
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page.locator(".messagelist .success")).to_contain_text("rejected — the baseline is unchanged")

    req.refresh_from_db()
    metric = MetricDefinition.objects.get(pk=req.metric_id)
    assert (req.status, req.reviewer, req.applied) == ("rejected", "olivia", False)
    assert req.notes == "Not expected: investigate the archive job."
    assert metric.baseline_value == old_baseline
    page.goto(f"/admin/approvals/approvalrequest/{req.pk}/review/")
    expect(page.locator("#approval-status")).to_have_text("rejected")
    # The other request is still waiting.
    assert _pending("lake.total_objects").status == "pending"


def test_export_filtered_gaps_to_xlsx(logged_in, tmp_path):
    page = logged_in
    # From the home: the CRITICAL row of "open gaps by priority" opens the filtered gap list.
    page.locator("#panel-gaps").get_by_role("link", name="CRITICAL").first.click()
    page.wait_for_url(re.compile(r"/admin/reconciliation/gap/\?.*priority__exact=CRITICAL"))
    expected = {g.pk: g for g in Gap.objects.filter(status="open", priority="CRITICAL")
                .select_related("source", "data_type")}
    assert expected

    page.locator(".object-tools").get_by_role("link", name="Export", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/reconciliation/gap/export/"))
    page.select_option("select[name=format]", label="xlsx")
    with page.expect_download() as info:
        page.locator("form input[type=submit]").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    sheet = openpyxl.load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header, body = list(rows[0]), rows[1:]
    col = {name: header.index(name) for name in ("id", "source", "data_type", "season", "partition", "kind",
                                                 "priority", "status")}
    assert len(body) == len(expected)
    seen = set()
    for row in body:
        gap = expected[int(row[col["id"]])]
        seen.add(gap.pk)
        assert row[col["source"]] == gap.source.name
        assert row[col["data_type"]] == gap.data_type.name
        assert (row[col["season"]] or None) == gap.season
        assert str(row[col["partition"]] or "") == gap.partition
        assert (row[col["kind"]], row[col["priority"]], row[col["status"]]) == (gap.kind, "CRITICAL", "open")
    assert seen == set(expected)


def _fits(page, header_texts):
    """The change list needs no horizontal scrolling in the 1,400 px window, and the named column
    headers are inside the viewport."""
    overflow = page.evaluate("""() => { const r = document.querySelector('#changelist .results');
                                        return r.scrollWidth - r.clientWidth; }""")
    assert overflow <= 0, f"the list scrolls sideways by {overflow}px"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    for text in header_texts:
        box = page.locator("#result_list thead th", has_text=text).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1400, (text, box)


def test_gap_and_task_lists_fit_a_1400px_window(logged_in, screenshot):
    page = logged_in
    task = Task.objects.filter(status="pending").order_by("priority_rank").first()
    Task.objects.filter(pk=task.pk).update(status="claimed", claimed_by="espn_async_scraper@worker-12.example.internal",
                                           lease_expires_at=task.created_at)
    page.locator("#adce-nav").get_by_role("link", name="Open gaps").click()
    page.wait_for_url(re.compile(r"/admin/reconciliation/gap/\?status__exact=open"))
    expect(page.locator("#result_list .adce-badge.CRITICAL").first).to_be_visible()
    _fits(page, ["Partition", "Priority", "Task"])
    screenshot(page, "gaps-open")

    page.goto("/admin/reconciliation/gap/")  # all statuses: one column more (resolved)
    _fits(page, ["Task", "Resolved"])

    page.locator("#adce-nav").get_by_role("link", name="Tasks").click()
    page.wait_for_url("**/admin/reconciliation/task/")
    expect(page.locator("#result_list .adce-badge").first).to_be_visible()
    _fits(page, ["Task", "Claimed by", "Lease"])
    expect(page.locator("#result_list")).to_contain_text("espn_async_scraper@")
    screenshot(page, "tasks")


def test_a_gap_page_explains_the_gap_read_only(logged_in, screenshot):
    page = logged_in
    gap = Gap.objects.filter(status="open", kind="empty").select_related("data_type").first()
    page.goto(f"/admin/reconciliation/gap/{gap.pk}/change/")
    expect(page.locator("h1")).to_have_text("View gap")
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("#gap-expected tbody tr")).to_have_count(len(gap.data_type.path_patterns))
    expect(page.locator("#gap-expected")).to_contain_text(gap.partition)
    expect(page.locator("#gap-deciding")).to_contain_text(gap.object_key)
    screenshot(page, "gap")


def test_a_reconcile_run_reads_as_tables(logged_in, screenshot):
    page = logged_in
    run = ReconcileRun.objects.order_by("-pk").first()
    page.locator("#adce-nav").get_by_role("link", name="Reconciles").click()
    page.locator("#result_list").get_by_role("link", name=str(run.pk), exact=True).click()
    expect(page.locator("#reconcile-by-priority")).to_be_visible()
    expect(page.locator("#reconcile-completeness tbody tr").first).to_be_visible()
    expect(page.locator("#reconcile-timings")).to_contain_text("ms")
    expect(page.locator("pre")).to_have_count(0)
    screenshot(page, "reconcile-run")
    page.locator("#raw-json-link").click()
    assert '"gaps"' in page.content()

    page.goto(f"/admin/reconciliation/scanrun/{run.scan_id}/change/")
    expect(page.locator("#scan-unmatched tbody tr").first).to_be_visible()
    screenshot(page, "scan-run")


def test_a_request_whose_metric_came_back_shows_superseded(logged_in, screenshot):
    """The folders are back (demo_data restores them): the next verify finds the lake within the
    threshold and closes the request; its page says so and offers nothing to decide."""
    from django.core.management import call_command

    page = logged_in
    req = _pending("lake.total_objects")
    try:
        call_command("verify", quiet=True, no_cache=True)
    except SystemExit as exc:  # exit 1: other metrics may still report drift
        assert exc.code == 1
    req.refresh_from_db()
    assert req.status == "superseded" and "back within" in req.notes
    page.goto(f"/admin/approvals/approvalrequest/{req.pk}/review/")
    expect(page.locator("#approval-stale")).to_contain_text("back within the 15 % approval threshold")
    expect(page.locator("button[name=decision]")).to_have_count(0)
    screenshot(page, "review-superseded")


def test_a_scale_out_scan_shows_its_data_files(logged_in, screenshot):
    """scan --parallel: the run page lists its data files, where each stands, and why one failed."""
    import datetime as dt

    from django.utils import timezone

    from reconciliation.models import ScanPart, ScanRun

    now = timezone.now()
    run = ScanRun.objects.create(status="failed", mode="inventory-report", trigger="manual", parallel=True, started_at=now,
                                 finished_at=now, manifest_uri="s3://inv/lake/daily/2026-12-07T01-00Z/manifest.json",
                                 error="data file 2 (f2.csv.gz): gzip: invalid header")
    base = "s3://inv/lake/daily/data/"
    ScanPart.objects.create(scan=run, seq=0, file_uri=base + "f0.csv.gz", file_size=52_000_000, status="done",
                            rows=3_000_120, started_at=now, finished_at=now + dt.timedelta(seconds=41))
    ScanPart.objects.create(scan=run, seq=1, file_uri=base + "f1.csv.gz", file_size=51_000_000, status="running",
                            started_at=now, lease_until=now + dt.timedelta(minutes=11))
    ScanPart.objects.create(scan=run, seq=2, file_uri=base + "f2.csv.gz", file_size=50_000_000, status="failed",
                            error="gzip: invalid header")
    page = logged_in
    page.goto(f"/admin/reconciliation/scanrun/{run.pk}/change/")
    expect(page.locator("#scan-parts-line")).to_have_text("1 of 3 data files staged; 1 running, 1 failed")
    expect(page.locator("#scan-parts tbody tr")).to_have_count(3)
    expect(page.locator("#scan-parts tr.part-failed")).to_contain_text("gzip: invalid header")
    expect(page.locator("#scan-parts tr.part-done")).to_contain_text("3,000,120")
    screenshot(page, "scan-run-parallel")
