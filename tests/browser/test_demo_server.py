"""The newcomer's first page: `manage.py demo` started as the README says (on a free port through its
`--addr` option), served by the demo's own server, in Chromium. With DEBUG off, runserver serves no
static files: only WhiteNoise (after the demo's collectstatic) makes the admin styled."""
from __future__ import annotations

import signal
import time

import pytest

from tests.demo_process import alive, descendants, kill_all, start_demo


pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, _require_browser):
    demo = start_demo(tmp_path_factory.mktemp("fresh-clone-var"))  # the README's command, default lake
    try:
        demo.wait_serving(timeout=600)
        yield demo
    finally:
        leftovers = descendants(demo.proc.pid)
        demo.stop(signal.SIGTERM)
        kill_all(leftovers)


@pytest.fixture
def demo_page(browser, demo_server):
    context = browser.new_context(base_url=demo_server.url, viewport={"width": 1400, "height": 900},
                                  color_scheme="light")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def test_the_demo_serves_a_styled_admin(demo_server, demo_page, screenshot):
    page = demo_page
    assert demo_server.password, demo_server.output()[-3000:]
    page.goto("/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", demo_server.password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#adce-dashboard").is_visible()

    # The stylesheet applied: admin/css/base.css lays the header out as a flex row on the blue header colour.
    header = page.evaluate("""() => { const s = getComputedStyle(document.querySelector('#header'));
                                      return {display: s.display, background: s.backgroundColor}; }""")
    assert header == {"display": "flex", "background": "rgb(65, 118, 144)"}, header
    # …served by WhiteNoise under its hashed name, and under the plain name too.
    css = page.locator("link[rel=stylesheet][href*='admin/css/base']").first.get_attribute("href")
    assert css.startswith("/static/admin/css/base.") and css != "/static/admin/css/base.css", css
    for url in (css, "/static/admin/css/base.css"):
        response = page.request.get(url)
        assert response.status == 200 and "text/css" in response.headers["content-type"], (url, response.status)
    screenshot(page, "demo-dashboard")


def test_sigterm_stops_the_demo_and_its_worker(demo_server):
    """Last in this module: the demo ends on SIGTERM, and so does the django-q2 cluster it started."""
    cluster = {demo_server.worker_pid} | descendants(demo_server.worker_pid)
    assert demo_server.stop(signal.SIGTERM, timeout=60) == 0
    deadline = time.monotonic() + 20
    while any(alive(p) for p in cluster) and time.monotonic() < deadline:
        time.sleep(0.1)  # the cluster's processes wind down after the demo returned
    assert not [p for p in cluster if alive(p)]
