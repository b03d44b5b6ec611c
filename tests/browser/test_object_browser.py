"""The object browser over a store held in files, in Chromium, through the server a user starts
(`manage.py demo`, as tests/browser/test_demo_server.py starts it): list, search, page, filter and
export the demo lake's objects once its inventory is Parquet files (ADCE_OBJECT_STORE=files)."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.demo_process import NOT_INHERITED, REPO, descendants, kill_all, start_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The demo's scan may write rows (a scan that writes files is another step of issue 23 item 2): its stores
# are then made held in files exactly as a files-mode scan leaves them — Parquet files and files_swap.
TO_FILES = """
from django.db import transaction
from reconciliation.engine.inventory_sql import STAGING_COLUMNS, Region
from reconciliation.engine.object_files import file_inventories, files_swap
from reconciliation.models import StoredObject
from tests.reconciliation.object_files_helpers import write_parquet
for store in sorted(set(StoredObject.objects.values_list("store", flat=True)) - set(file_inventories())):
    rows = [dict(zip(STAGING_COLUMNS, r)) for r in
            StoredObject.objects.filter(store=store).order_by("key").values_list(*STAGING_COLUMNS)]
    path = write_parquet(store, rows)
    with transaction.atomic():
        files_swap({store: ([path], len(rows), True)}, [Region(store, "")], None)
print("HELD", sorted(file_inventories()), "ROWS", StoredObject.objects.count())
"""


@pytest.fixture(scope="module")
def files_demo(tmp_path_factory, _require_browser):
    var = tmp_path_factory.mktemp("files-demo-var")
    previous = os.environ.get("ADCE_OBJECT_STORE")
    os.environ["ADCE_OBJECT_STORE"] = "files"
    try:
        demo = start_demo(var, "--seasons", "2")
    finally:
        if previous is None:
            os.environ.pop("ADCE_OBJECT_STORE")
        else:
            os.environ["ADCE_OBJECT_STORE"] = previous
    try:
        demo.wait_serving(timeout=600)
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(ADCE_VAR_DIR=str(var), ADCE_OBJECT_STORE="files")
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c", TO_FILES], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "HELD ['file://'] ROWS 0" in done.stdout, done.stdout + done.stderr
        yield demo
    finally:
        leftovers = descendants(demo.proc.pid)
        demo.stop(signal.SIGTERM)
        kill_all(leftovers)


@pytest.fixture
def admin_page(browser, files_demo):
    context = browser.new_context(base_url=files_demo.url, viewport={"width": 1400, "height": 900},
                                  color_scheme="light", accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", files_demo.password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()


def keys(page) -> list[str]:
    return page.locator("#result_list tbody td.key").all_inner_texts()


def test_browse_search_page_filter_and_export_objects_held_in_files(admin_page, screenshot):
    page = admin_page
    page.goto("/admin/reconciliation/storedobject/")
    expect(page.locator("#object-browser")).to_be_visible()
    first = keys(page)
    assert len(first) == 100 and first == sorted(first)
    screenshot(page, "objects-in-files")

    page.locator("#page-next").click()
    second = keys(page)
    assert len(second) == 100 and second[0] > first[-1]
    expect(page.locator("#page-first")).to_be_visible()

    # a key relative to a source's location, as the search hint's example writes it
    page.fill("#searchbar", "espn_play_by_play/4")
    page.locator("#object-browser form.browse input[type=submit]").click()
    found = keys(page)
    assert found and all("/espn_play_by_play/4" in k for k in found)
    expect(page.locator("#searchbar")).to_have_value("espn_play_by_play/4")
    screenshot(page, "objects-in-files-search")

    page.fill("#searchbar", "")
    page.select_option("#source-filter", label="espn")
    page.locator("#object-browser form.browse input[type=submit]").click()
    sources = page.locator("#result_list tbody tr td:nth-child(5)").all_inner_texts()
    assert sources and set(sources) == {"espn"}

    page.fill("#searchbar", "espn_play_by_play/4")
    page.locator("#object-browser form.browse input[type=submit]").click()
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path()).read())))
    assert rows[0][:3] == ["store", "key", "size"] and len(rows) > 1
    assert all(r[0] == "file://" and "/espn_play_by_play/4" in r[1] and r[5] == "espn" for r in rows[1:])

    page.goto("/admin/reconciliation/storedobject/?after=garbage")
    expect(page.locator("body")).to_contain_text("Bad request: the page cursor 'after' is not one this browser made")
