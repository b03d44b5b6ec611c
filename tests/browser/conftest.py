"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live_server.

* Chromium is Debian's package (/usr/bin/chromium, `apt-get install chromium`), never `playwright install`.
* Without it (or without the playwright package) the tests skip locally, but FAIL when
  ADCE_REQUIRE_BROWSER=1 (CI sets it): a CI run must never pass by skipping them.
* The data are built through the real commands on a small demo lake (adce_site.demo_lake), once per
  module for the files, and per test for the database (live_server tests are transactional, so the
  database is emptied after each test).
* Screenshots go to test-artifacts/screenshots/ at the repository root (gitignored), or to
  $ADCE_SCREENSHOT_DIR.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

CHROMIUM = os.environ.get("ADCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
# ADCE_SCREENSHOT_DIR moves them, e.g. to a folder CI keeps as an artifact.
SCREENSHOTS = Path(os.environ.get("ADCE_SCREENSHOT_DIR") or REPO / "test-artifacts" / "screenshots")
TODAY = dt.date(2026, 11, 22)  # fixed: the demo lake, the catalog and `reconcile --as-of` agree on it
PASSWORD = "browser-pw-1"
# Moved out of the lake (and back) to make the critical lake.* metrics drift by well over 25 %.
DRIFT_DIRS = ("basketball_reference", "espn_team_stats")


def _browser_missing_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in item.keywords:
            item.fixturenames.insert(0, "_require_browser")


@pytest.fixture(scope="session")
def _require_browser():
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("ADCE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ADCE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser test: {reason}")


@pytest.fixture(scope="module")
def browser(_require_browser):
    """One Chromium per module. Module scope (not session): Playwright's sync API keeps an asyncio
    loop running on this thread, which must be gone before unrelated test modules run. While it runs,
    the ORM calls of the tests and fixtures (plain synchronous code) would trip Django's async-safety
    guard, a false alarm here: it is lifted for exactly the browser's lifetime."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def screenshot():
    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


@dataclass
class DemoFiles:
    root: Path
    lake: Path
    coverage: Path
    metrics: Path
    catalogs: dict


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory, _require_browser) -> DemoFiles:
    from adce_site.demo_lake import build_demo_lake

    root = tmp_path_factory.mktemp("demo")
    s = build_demo_lake(root, today=TODAY, seasons=2)
    return DemoFiles(root=root, lake=s.lake, coverage=s.coverage_file, metrics=s.metrics_file, catalogs=s.catalog_files)


def _verify_update():
    try:
        call_command("verify", update=True, quiet=True, no_cache=True)
    except SystemExit as exc:  # exit 1 = something drifted or waits for approval: expected here
        assert exc.code == 1, exc.code


@pytest.fixture
def demo_data(demo_files, transactional_db, django_user_model):
    """The demo loaded through the real commands, with pending approval requests for the critical
    metrics lake.total_objects and lake.total_size_mb (raised by verify, as in production)."""
    call_command("import_coverage", str(demo_files.coverage))
    for source, path in demo_files.catalogs.items():
        call_command("import_catalog", str(path), source=source)
    call_command("import_metrics", str(demo_files.metrics))
    call_command("scan")
    call_command("reconcile", use_cache=True, as_of=TODAY.isoformat())
    _verify_update()  # first baselines
    moved = demo_files.root / "moved"
    moved.mkdir(exist_ok=True)
    try:
        for name in DRIFT_DIRS:
            shutil.move(str(demo_files.lake / name), str(moved / name))
        _verify_update()  # the lake shrank: critical drift → pending requests instead of new baselines
    finally:
        for name in DRIFT_DIRS:
            if (moved / name).exists():
                shutil.move(str(moved / name), str(demo_files.lake / name))
    django_user_model.objects.create_superuser("olivia", "olivia@example.com", PASSWORD)
    return demo_files


def _log_in(page):
    page.goto("/admin/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


@pytest.fixture
def logged_in(page, demo_data):
    """A page logged in through the login form as a superuser (who did not raise the requests)."""
    return _log_in(page)


@pytest.fixture
def logged_in_fresh(page, transactional_db, django_user_model):
    """Logged in on a fresh install: nothing imported, nothing run."""
    django_user_model.objects.create_superuser("olivia", "olivia@example.com", PASSWORD)
    return _log_in(page)
