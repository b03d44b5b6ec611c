"""HTTP scrapers (SPEC §13): the task document POSTed and signed as §9 over real HTTP; 2xx accepts,
the scraper finishes through the task API, and verification still decides."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciliation.choices import GapStatus, ScraperRunStatus, TaskStatus
from reconciliation.models import Gap, Task
from reconciliation.orchestration.models import ScraperRun
from reconciliation.orchestration.dispatch import dispatch_claim, dispatch_once
from reconciliation.orchestration.services import scrapers_import
from reconciliation.services.task_queue import task_complete

from ..test_scanning import put_file
from .conftest import scrapers_yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def scraper_server():
    received, answer = [], {"status": 202}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers, body))
            self.send_response(answer["status"])
            self.end_headers()
            self.wfile.write(b"busy" if answer["status"] >= 400 else b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/scrape", received, answer
    server.shutdown()
    server.server_close()


def declare_http(tmp_path, url):
    scrapers_import(scrapers_yaml(tmp_path / "s.yaml", {
        "espn_scraper": f'    url: "{url}"\n    max_concurrency: 1\n    backoff_minutes: [0]\n'}))


def test_http_scraper_gets_a_signed_document_and_verification_decides(lake, tmp_path, scraper_server, settings):
    url, received, _ = scraper_server
    declare_http(tmp_path, url)
    _, runs = dispatch_once()
    assert runs[0].status == ScraperRunStatus.ACCEPTED and runs[0].exit_status == 202
    headers, body = received[0]
    expected = "sha256=" + hmac.new(settings.ADCE_EVENTS_TOKEN.encode(), body, hashlib.sha256).hexdigest()
    assert headers.get("X-ADCE-Signature") == expected
    doc = json.loads(body)
    task = Task.objects.get(pk=doc["id"])
    assert doc["expected_keys"] and doc["location"] == task.source.location
    # It says "done" through the task API without writing: the next dispatch verifies and reopens it.
    task_complete(task.pk, worker=task.claimed_by)
    result = dispatch_claim()
    assert result.settled == 1
    run = ScraperRun.objects.get(pk=runs[0].pk)
    task.refresh_from_db()
    n = len(doc["expected_keys"])
    assert run.status == ScraperRunStatus.FAILED and run.reason == f"{n} of {n} partitions still missing"
    assert task.status in (TaskStatus.PENDING, TaskStatus.CLAIMED) and task.last_error == run.reason


def test_http_scraper_that_writes_then_completes_heals(lake, tmp_path, scraper_server):
    url, received, _ = scraper_server
    declare_http(tmp_path, url)
    _, runs = dispatch_once()
    doc = json.loads(received[0][1])
    for key in doc["expected_keys"]:
        put_file(lake, key)
    task_complete(doc["id"], worker=Task.objects.get(pk=doc["id"]).claimed_by)
    dispatch_claim()
    assert ScraperRun.objects.get(pk=runs[0].pk).status == ScraperRunStatus.SUCCEEDED
    assert not Gap.objects.filter(task_id=doc["id"], status=GapStatus.OPEN).exists()


def test_http_refusal_fails_the_run_with_the_status(lake, tmp_path, scraper_server):
    url, _, answer = scraper_server
    answer["status"] = 503
    declare_http(tmp_path, url)
    _, runs = dispatch_once()
    assert runs[0].status == ScraperRunStatus.FAILED and runs[0].reason == f"HTTP 503 from {url}: busy"


def test_unreachable_http_scraper(lake, tmp_path):
    declare_http(tmp_path, "http://127.0.0.1:9/nothing-listens")
    _, runs = dispatch_once()
    assert runs[0].reason.startswith("scraper unreachable: http://127.0.0.1:9/nothing-listens")
