"""The self-healing loop as an operator sees it in a real browser (SPEC §13): the demo scraper heals
part of the demo lake, the home shows the loop's health, the Scrapers page shows usage against the
limits and pauses / resumes a scraper, and a task's page lists its runs."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reconciliation.orchestration.demo import demo_scrapers_declare
from reconciliation.orchestration.models import Scraper, ScraperRun
from reconciliation.orchestration.dispatch import dispatch_once

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_scrapers_page_pause_resume_and_run_history(logged_in, demo_data, screenshot):
    page = logged_in
    demo_scrapers_declare(demo_data.root)
    for _ in range(3):
        dispatch_once()
    healed = ScraperRun.objects.filter(status="succeeded").count()
    assert healed > 0

    page.goto("/admin/")
    expect(page.locator("#panel-loop-health")).to_contain_text("Gaps healed in the last 24 h")
    assert int(page.locator("#loop-gaps_healed_24h td.n").inner_text()) > 0

    page.goto("/admin/reconciliation/scraper/")
    expect(page.locator("#result_list")).to_contain_text("espn_async_scraper")
    expect(page.locator("#result_list")).to_contain_text("/ 60/minute")
    expect(page.locator("#content h2").first).to_contain_text("All scrapers: 0 running of at most 2")
    screenshot(page, "scrapers-page")

    espn = Scraper.objects.get(name="espn_async_scraper")
    page.locator(f"input[name=_selected_action][value='{espn.pk}']").check()
    page.select_option("select[name=action]", "pause_scrapers")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 scraper(s) paused.")
    expect(page.locator("#result_list")).to_contain_text("paused until")
    espn.refresh_from_db()
    assert espn.is_paused()

    page.locator(f"input[name=_selected_action][value='{espn.pk}']").check()
    page.select_option("select[name=action]", "resume_scrapers")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 scraper(s) resumed.")
    espn.refresh_from_db()
    assert not espn.is_paused()

    run = ScraperRun.objects.select_related("task").first()
    page.goto(f"/admin/reconciliation/task/{run.task_id}/change/")
    expect(page.locator("#content-main")).to_contain_text("Scraper runs")
    expect(page.locator("#content-main")).to_contain_text(run.scraper.name)
