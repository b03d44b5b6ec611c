"""The scan and reconcile run pages read as tables (reconciliation/interfaces/run_pages.py + the summary
templates), sizes and durations formatted, the raw JSON one link away."""
import datetime as dt
import json

import pytest
from django.urls import reverse

from reconciliation.models import ReconcileRun, ScanPart, ScanRun, Source
from reconciliation.interfaces.run_pages import unmatched_rows

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def admin_client(client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def scan():
    Source.objects.create(name="espn", scraper="espn_scraper", location="s3://lake/espn/")
    return ScanRun.objects.create(
        status="completed", started_at=T0, finished_at=T0, duration_ms=83_400, objects_seen=51_548,
        bytes_seen=31_747_907, matched_count=51_543, unmatched_count=7,
        unmatched_examples=["s3://lake/espn/ESPN_play_by_play/401.json", "s3://lake/espn/pbp/<x>.bak"],
        stats={"locations": [{"uri": "s3://lake/espn/", "objects": 51_548, "bytes": 31_747_907, "matched": 51_543,
                              "unmatched": 7, "seconds": 1.234}],
               "outside_locations": 0, "timings": {"list": 1.25, "write": 0.0042},
               "inventory": {"written": 51_548, "deleted": 3}})


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_scan_run_page_shows_tables_with_formatted_numbers(admin_client, scan):
    html = text_of(admin_client.get(reverse("admin:reconciliation_scanrun_change", args=[scan.pk])))
    assert 'id="scan-totals"' in html and "51,548" in html and "31.7 MB" in html and "1 min 23 s" in html
    assert 'id="scan-locations"' in html and "1.2 s" in html  # the location's listing time
    assert 'id="scan-timings"' in html and "4 ms" in html
    # Each unmatched key under the location it fell under, the rest shown apart (escaped).
    assert "<td><code>s3://lake/espn/</code></td><td>espn</td><td><code>ESPN_play_by_play/401.json</code></td>" in html
    assert "pbp/&lt;x&gt;.bak" in html and "and 5 more" in html
    assert "<pre" not in html  # no JSON dump on the page…
    raw = reverse("admin:reconciliation_scanrun_raw_json", args=[scan.pk])
    assert f'href="{raw}"' in html  # …it is one link away
    assert json.loads(admin_client.get(raw).content)["timings"] == {"list": 1.25, "write": 0.0042}



def test_scan_run_page_says_how_the_inventory_was_diffed(admin_client, scan):
    url = reverse("admin:reconciliation_scanrun_change", args=[scan.pk])
    scan.stats["inventory"] = {"written": 3, "deleted": 0, "diff": "snapshot"}
    scan.save()
    assert "against the last scan&#x27;s snapshot" in text_of(admin_client.get(url))
    scan.stats["inventory"] = {"written": 3, "deleted": 0, "diff": "staged", "snapshot_refused": "no snapshot of s3://lake"}
    scan.save()
    html = text_of(admin_client.get(url))
    assert "staged rows" in html and "no snapshot of s3://lake" in html

def test_a_scale_out_scan_page_lists_its_data_files(admin_client):
    """scan --parallel: one row per data file, the failed one with its error, the one still out with its
    lease, and a line that says where the run stands."""
    run = ScanRun.objects.create(status="failed", mode="inventory-report", parallel=True, started_at=T0,
                                 error="data/f2.csv.gz: gzip: invalid header")
    base = "s3://inv/lake/daily/data/"
    ScanPart.objects.create(scan=run, seq=0, file_uri=base + "f0.csv.gz", file_size=5_000_000, status="done",
                            rows=1_000_575, started_at=T0, finished_at=T0 + dt.timedelta(seconds=4.5))
    ScanPart.objects.create(scan=run, seq=1, file_uri=base + "f1.csv.gz", status="running",
                            lease_until=T0 + dt.timedelta(minutes=11), started_at=T0)
    ScanPart.objects.create(scan=run, seq=2, file_uri=base + "f2.csv.gz", status="failed", error="gzip: invalid header")
    html = text_of(admin_client.get(reverse("admin:reconciliation_scanrun_change", args=[run.pk])))
    assert "1 of 3 data files staged; 1 running, 1 failed" in html
    assert '<tr class="part-done"><td class="n">0</td><td><code title="s3://inv/lake/daily/data/f0.csv.gz">f0.csv.gz</code>' in html
    assert "1,000,575" in html and "4.5 s" in html and "5.0 MB" in html
    assert '<tr class="part-failed">' in html and "gzip: invalid header</td>" in html
    running = html.split('<tr class="part-running">')[1].split("</tr>")[0]
    assert "08:11" in running or "8:11" in running  # its lease: a worker that dies leaves it to expire


def test_a_sequential_scan_page_has_no_data_file_table(admin_client, scan):
    html = text_of(admin_client.get(reverse("admin:reconciliation_scanrun_change", args=[scan.pk])))
    assert 'id="scan-parts"' not in html


def test_reconcile_run_page_shows_priorities_kinds_completeness_and_timings(admin_client, scan):
    run = ReconcileRun.objects.create(
        status="completed", as_of=T0.date(), started_at=T0, finished_at=T0, duration_ms=850, scan=scan,
        summary={"scan": {"id": scan.pk, "cached": True, "mode": "list", "status": "completed", "objects": 51548,
                          "unmatched": 7},
                 "gaps": {"total": 981, "by_priority": {"critical": 50, "high": 36, "medium": 67, "low": 828},
                          "by_kind": {"missing": 757, "empty": 223, "stale": 1},
                          "opened": 981, "updated": 0, "resolved": 12, "ignored": 0},
                 "tasks": {"created": 1, "done": 0, "reranked": 0, "created_tasks": [
                     {"id": "7e27e21a-52a8-4983-a2e0-19469b2aeb0f", "source": "espn", "data_type": "box_scores",
                      "season": "2026-27", "priority": "CRITICAL", "gap_type": "missing",
                      "scraper": "espn_async_scraper", "partitions": 14, "estimated_time_minutes": 14}]},
                 "completeness": [{"source": "espn", "data_type": "box_scores", "season": "2025-26",
                                   "expected": 1230, "present": 1208, "completeness": 0.982114}],
                 "timings": {"scan": 0.004, "persist": 0.036, "total": 0.085},
                 "output": {"path": "/srv/gaps.json", "written": True}})
    html = text_of(admin_client.get(reverse("admin:reconciliation_reconcilerun_change", args=[run.pk])))
    assert 'id="reconcile-by-priority"' in html and '<span class="adce-badge CRITICAL">CRITICAL</span>' in html
    assert "<td class=\"n\">828</td>" in html and 'id="reconcile-by-kind"' in html and "757" in html
    assert "<td>espn</td><td>box_scores</td><td>2025-26</td><td class=\"n\">1,230</td><td class=\"n\">1,208</td>" \
           "<td class=\"n\">98.2 %</td>" in html
    assert 'id="reconcile-timings"' in html and "36 ms" in html and "85 ms" in html
    assert "espn_async_scraper" in html and "/srv/gaps.json" in html and "<pre" not in html
    listing = text_of(admin_client.get(reverse("admin:reconciliation_reconcilerun_changelist")))
    assert "981 (981 / 12)" in listing


def test_raw_json_of_an_unknown_run_is_a_json_404(admin_client):
    response = admin_client.get(reverse("admin:reconciliation_reconcilerun_raw_json", args=[999]))
    assert response.status_code == 404 and "does not exist" in response.json()["error"]


def test_unmatched_rows_prefer_the_longest_location():
    rows = unmatched_rows(["file:///lake/a/b/c.json", "file:///else/x"], ["file:///lake/", "file:///lake/a/"],
                          {"file:///lake/a/": ["espn"]})
    assert rows == [{"under": "file:///lake/a/", "sources": "espn", "relative": "b/c.json"},
                    {"under": "", "sources": "", "relative": "file:///else/x"}]
