"""Admin: changelists and pages render, access control, coverage matrix, exports, actions."""
import csv
import datetime as dt
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.urls import reverse

from reconciliation.interfaces import admin_base
from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import (
    CatalogGame,
    Gap,
    ReconcileRun,
    ReconciliationSettings,
    ScanRun,
    StoredObject,
    Task,
)
from reconciliation.interfaces.resources import GapResource
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # admin_client creates a superuser per test: the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lake(db):
    src = make_source("espn", seasons=["2023-24", "2024-25"])
    pbp = make_type(src, "play_by_play", threshold=0.95)
    box = make_type(src, "box_score", threshold=0.9)
    CatalogGame.objects.create(source=src, game_id="401000001", season="2024-25", game_date=dt.date(2024, 11, 1))
    scan = ScanRun.objects.create(status="completed", finished_at=T0, objects_seen=3, unmatched_count=3,
                                  unmatched_examples=["espn/odd/a.json", "espn/odd/<b>.json"])
    for i, key in enumerate(["play_by_play/401000001.json", "play_by_play/401000002.json", "box_score/x.json"]):
        StoredObject.objects.create(store="s3://lake", key=f"espn/{key}", size=100 + i, last_modified=T0,
                                    source=src, data_type=pbp if "play" in key else box, partition=str(i), scan=scan)
    task = make_task(pbp, priority="CRITICAL")
    gaps = [make_gap(pbp, f"40200000{i}", priority="CRITICAL", task=task) for i in range(3)]
    gaps.append(make_gap(pbp, "402999999", status=GapStatus.IGNORED))
    gaps.append(make_gap(box, "403000001", priority="LOW"))
    ReconcileRun.objects.create(status="completed", as_of=T0.date(), started_at=T0, finished_at=T0, scan=scan,
                                summary={"completeness": [
                                    {"source": "espn", "data_type": "play_by_play", "season": "2024-25",
                                     "expected": 100, "present": 96, "completeness": 0.96},
                                    {"source": "espn", "data_type": "box_score", "season": "2024-25",
                                     "expected": 2, "present": 1, "completeness": 0.5}]})
    ReconciliationSettings.load()
    return {"src": src, "pbp": pbp, "box": box, "task": task, "gaps": gaps, "scan": scan}


def streamed(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


MODELS = ["source", "datatype", "cataloggame", "scanrun", "reconcilerun", "reconciliationsettings",
          "storedobject", "gap", "task"]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render_for_superuser(admin_client, lake, model):
    response = admin_client.get(reverse(f"admin:reconciliation_{model}_changelist"))
    assert response.status_code == 200


def test_change_pages_render(admin_client, lake):
    scan = admin_client.get(reverse("admin:reconciliation_scanrun_change", args=[lake["scan"].pk]))
    assert scan.status_code == 200
    assert b"<code>espn/odd/a.json</code>" in scan.content
    assert b"espn/odd/&lt;b&gt;.json" in scan.content  # escaped
    task = admin_client.get(reverse("admin:reconciliation_task_change", args=[lake["task"].pk]))
    assert task.status_code == 200 and b"402000000, 402000001, 402000002" in task.content
    for model, pk in [("gap", lake["gaps"][0].pk), ("source", lake["src"].pk), ("reconcilerun", ReconcileRun.objects.get().pk)]:
        assert admin_client.get(reverse(f"admin:reconciliation_{model}_change", args=[pk])).status_code == 200


@pytest.mark.parametrize("url", [
    lambda: reverse("admin:reconciliation_gap_changelist"),
    lambda: reverse("admin:reconciliation_coverage"),
    lambda: reverse("admin:reconciliation_storedobject_export_csv"),
    lambda: reverse("admin:reconciliation_task_changelist"),
])
def test_non_staff_is_redirected_to_login(client, lake, url):
    user = get_user_model().objects.create_user("joe", password="pw-joe-123")
    client.force_login(user)
    response = client.get(url())
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_source_changelist_links_the_coverage_matrix(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_source_changelist"))
    assert reverse("admin:reconciliation_coverage").encode() in response.content
    assert reverse("admin:reconciliation_coverage") == "/admin/reconciliation/source/coverage/"


def test_coverage_matrix_page(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_coverage"))
    assert response.status_code == 200
    html = response.content.decode()
    # play_by_play 2024-25: (100 − 3 open − 1 ignored) / 100; box_score 2024-25: (2 − 1) / 2
    assert '<td class="green" data-season="2024-25" data-type="espn.play_by_play">' in html
    assert "96.0%" in html
    assert '<td class="red" data-season="2024-25" data-type="espn.box_score">' in html and "50.0%" in html
    pbp, src = lake["pbp"], lake["src"]
    link = (f"/admin/reconciliation/gap/?source__id__exact={src.pk}&amp;data_type__id__exact={pbp.pk}"
            f"&amp;season=2024-25&amp;status__exact=open")
    assert link in html
    # The link really filters the gap changelist to that cell's open gaps.
    listing = admin_client.get(link.replace("&amp;", "&"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset.values_list("partition", flat=True).order_by("partition")) == [
        "402000000", "402000001", "402000002"]


def test_coverage_page_denied_without_gap_view_permission(client, lake):
    staff = get_user_model().objects.create_user("staff", password="pw-staff-123", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:reconciliation_coverage")).status_code == 403


def test_streaming_csv_of_stored_objects_honours_search(admin_client, lake):
    url = reverse("admin:reconciliation_storedobject_export_csv")
    rows = streamed(admin_client.get(url, {"q": "espn/play_by_play/"}))
    assert rows[0] == ["store", "key", "size", "last_modified", "etag", "source", "data_type", "partition", "scan"]
    assert [r[1] for r in rows[1:]] == ["espn/play_by_play/401000001.json", "espn/play_by_play/401000002.json"]
    assert rows[1][2] == "100" and rows[1][3] == "2026-11-20T08:00:00Z" and rows[1][5:7] == ["espn", "play_by_play"]
    assert len(streamed(admin_client.get(url))) == 4


def test_stored_object_search_is_prefix_only(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_storedobject_changelist"), {"q": "by_play/"})
    assert response.context["cl"].result_count == 0
    response = admin_client.get(reverse("admin:reconciliation_storedobject_changelist"), {"q": "espn/box"})
    assert response.context["cl"].result_count == 1


@pytest.mark.parametrize("term, found", [
    ("play_by_play/4010", 2),                    # relative to the source's location s3://lake/espn/
    ("espn/play_by_play/401000002", 1),          # the full key
    ("s3://lake/espn/box_score/", 1),            # a URI
    ("s3://other/espn/box_score/", 0),           # …of another bucket
    ("box_score/x.json", 1),
])
def test_stored_object_search_accepts_keys_relative_to_a_source_location(admin_client, lake, term, found):
    changelist = reverse("admin:reconciliation_storedobject_changelist")
    response = admin_client.get(changelist, {"q": term})
    assert response.context["cl"].result_count == found
    assert "espn_play_by_play/4018" in response.content.decode()  # the hint's example is of that form


def test_stored_object_search_hint_example_finds_the_demo_objects(admin_client, tmp_path):
    """The search hint's own example, on a lake in a local folder (file:// keys are absolute paths)."""
    from reconciliation.models import Source

    src = Source.objects.create(name="espn", scraper="espn_scraper", location=f"file://{tmp_path}/lake/")
    StoredObject.objects.create(store="file://", key=f"{str(tmp_path).lstrip('/')}/lake/espn_play_by_play/401800001.json",
                                size=1, last_modified=T0, source=src)
    response = admin_client.get(reverse("admin:reconciliation_storedobject_changelist"), {"q": "espn_play_by_play/4018"})
    assert response.context["cl"].result_count == 1


def test_streaming_csv_of_gaps_honours_filters_and_action(admin_client, lake):
    url = reverse("admin:reconciliation_gap_export_csv")
    rows = streamed(admin_client.get(url, {"priority__exact": "CRITICAL"}))
    assert rows[0][:4] == ["id", "source", "data_type", "season"]
    assert sorted(r[4] for r in rows[1:]) == ["402000000", "402000001", "402000002"]
    assert all(r[15] == str(lake["task"].pk) for r in rows[1:])
    chosen = lake["gaps"][4]
    response = admin_client.post(reverse("admin:reconciliation_gap_changelist"),
                                 {"action": "stream_csv_action", ACTION_CHECKBOX_NAME: [chosen.pk]})
    rows = streamed(response)
    assert [r[4] for r in rows[1:]] == ["403000001"]


def test_gap_changelist_shows_stream_link_with_current_filters(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_gap_changelist"), {"priority__exact": "LOW"})
    assert b"/admin/reconciliation/gap/export-csv/?priority__exact=LOW" in response.content
    assert b"/admin/reconciliation/source/coverage/" in response.content


def test_gap_actions_ignore_and_requeue(admin_client, lake):
    changelist = reverse("admin:reconciliation_gap_changelist")
    low = lake["gaps"][4]
    admin_client.post(changelist, {"action": "ignore_gaps", ACTION_CHECKBOX_NAME: [low.pk]})
    low.refresh_from_db()
    assert low.status == GapStatus.IGNORED
    before = Task.objects.count()
    ignored = lake["gaps"][3]
    admin_client.post(changelist, {"action": "requeue_gaps", ACTION_CHECKBOX_NAME: [low.pk, ignored.pk, lake["gaps"][0].pk]})
    low.refresh_from_db(); ignored.refresh_from_db()
    assert low.status == ignored.status == GapStatus.OPEN
    assert Task.objects.count() == before + 2  # LOW box_score and MEDIUM play_by_play groups
    assert low.task.status == TaskStatus.PENDING and low.task.reason.startswith("requeued by admin")
    # The gap already in an open task stays there.
    assert Gap.objects.get(pk=lake["gaps"][0].pk).task_id == lake["task"].pk


def test_task_actions(admin_client, lake):
    changelist = reverse("admin:reconciliation_task_changelist")
    task = lake["task"]
    admin_client.post(changelist, {"action": "mark_failed", ACTION_CHECKBOX_NAME: [task.pk]})
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED and task.last_error == "marked failed by admin"
    admin_client.post(changelist, {"action": "requeue_tasks", ACTION_CHECKBOX_NAME: [task.pk]})
    task.refresh_from_db()
    assert (task.status, task.attempts) == (TaskStatus.PENDING, 0)


def test_task_changelist_filters_and_open_gap_counts(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_task_changelist"),
                                {"status__exact": "pending", "scraper": "espn_scraper", "priority__exact": "CRITICAL"})
    cl = response.context["cl"]
    assert [t.open_gaps for t in cl.result_list] == [3]


def _export_post(client, model, resource, fields, fmt_index):
    data = {"format": fmt_index, "resource": 0}
    data.update({f"{resource.__name__.lower()}_{f}": "on" for f in fields})
    return client.post(reverse(f"admin:reconciliation_{model}_export"), data)


def test_import_export_xlsx_within_cap_and_refused_above(admin_client, lake, monkeypatch):
    monkeypatch.setattr(admin_base, "EXPORT_MAX_ROWS", 10)
    ok = _export_post(admin_client, "gap", GapResource, ["id", "partition", "priority"], 1)  # XLSX
    assert ok.status_code == 200
    assert ok["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(ok.content)).active
    assert sheet.max_row == 1 + Gap.objects.count()
    monkeypatch.setattr(admin_base, "EXPORT_MAX_ROWS", 4)
    refused = _export_post(admin_client, "gap", GapResource, ["id", "partition"], 1)
    assert refused.status_code == 200 and refused["Content-Type"].startswith("text/html")
    text = refused.content.decode()
    assert "more than 4 rows" in text and "/admin/reconciliation/gap/export-csv/" in text


def test_import_export_csv_of_tasks_and_objects(admin_client, lake):
    from reconciliation.interfaces.resources import StoredObjectResource, TaskResource

    tasks = _export_post(admin_client, "task", TaskResource, ["id", "status", "open_gaps"], 0)
    rows = list(csv.reader(io.StringIO(tasks.content.decode())))
    assert rows[0] == ["id", "status", "open_gaps"] and rows[1][1:] == ["pending", "3"]
    objs = _export_post(admin_client, "storedobject", StoredObjectResource, ["key", "source", "data_type"], 0)
    rows = list(csv.reader(io.StringIO(objs.content.decode())))
    assert ["espn/box_score/x.json", "espn", "box_score"] in rows


@pytest.mark.postgres
def test_estimated_count_paginator_on_postgres(lake):
    from django.db import connection

    scan = lake["scan"]
    StoredObject.objects.bulk_create(
        StoredObject(store="s3://big", key=f"k/{i:06d}", size=1, last_modified=T0, scan=scan) for i in range(12_000))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {StoredObject._meta.db_table}")
    from django.test.utils import CaptureQueriesContext

    total = StoredObject.objects.count()
    with CaptureQueriesContext(connection) as q:
        unfiltered = admin_base.EstimatedCountPaginator(StoredObject.objects.order_by("pk"), 100).count
    assert abs(unfiltered - total) <= total * 0.05  # the planner's estimate…
    assert not any("COUNT(" in c["sql"].upper() for c in q.captured_queries)  # …not COUNT(*)
    filtered = admin_base.EstimatedCountPaginator(StoredObject.objects.filter(store="s3://lake").order_by("pk"), 100)
    assert filtered.count == 3  # filtered lists are counted exactly


def test_a_gap_page_is_a_read_only_view_explaining_the_gap(admin_client, lake):
    """No "Change gap" form with Save buttons: the expected key under each pattern, what the inventory
    holds there, and the deciding object."""
    pbp = lake["pbp"]
    pbp.path_patterns = ["play_by_play/{game_id}.json", "pbp/{season}/{game_id}.json"]
    pbp.min_size_bytes = 100
    pbp.save()
    StoredObject.objects.create(store="s3://lake", key="espn/play_by_play/402100001.json", size=2, last_modified=T0,
                                source=lake["src"], data_type=pbp, partition="402100001")
    gap = make_gap(pbp, "402100001", kind="empty", priority="CRITICAL", season="2024-25")
    Gap.objects.filter(pk=gap.pk).update(object_key="espn/play_by_play/402100001.json", object_size=2,
                                         object_last_modified=T0)
    html = admin_client.get(reverse("admin:reconciliation_gap_change", args=[gap.pk])).content.decode()
    assert "View gap" in html and "Change gap" not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html and "<textarea" not in html
    assert "The newest object is 2 B — under this data type's minimum of 100 bytes." in html
    assert ("<td><code>play_by_play/{game_id}.json</code></td><td><code>s3://lake/espn/play_by_play/402100001.json"
            "</code></td><td>stored: 2 B, 2026-11-20 08:00 UTC</td>") in html
    assert "<code>s3://lake/espn/pbp/2024-25/402100001.json</code></td><td>not in the inventory</td>" in html
    assert '<span id="gap-deciding"><code>s3://lake/espn/play_by_play/402100001.json</code><br>2 B' in html
    assert '<span class="adce-badge CRITICAL">CRITICAL</span>' in html
    # A POST to the page changes nothing.
    assert admin_client.post(reverse("admin:reconciliation_gap_change", args=[gap.pk]),
                             {"status": "resolved"}).status_code == 403
    assert Gap.objects.get(pk=gap.pk).status == "open"


def test_gap_and_task_lists_show_priority_badges_and_short_utc_times(admin_client, lake):
    gaps = admin_client.get(reverse("admin:reconciliation_gap_changelist"), {"status__exact": "open"}).content.decode()
    assert '<span class="adce-badge CRITICAL">CRITICAL</span>' in gaps and '<span class="adce-badge LOW">LOW</span>' in gaps
    assert "resolved (UTC)" not in gaps.lower()  # an open gap has no resolution: one column less
    Task.objects.filter(pk=lake["task"].pk).update(status="claimed", claimed_by="espn_scraper@host-1.example",
                                                   lease_expires_at=T0)
    tasks = admin_client.get(reverse("admin:reconciliation_task_changelist")).content.decode()
    assert '<span class="adce-badge CRITICAL">CRITICAL</span>' in tasks
    assert "espn_scraper@<wbr>host-1.<wbr>example" in tasks
    assert '<span class="adce-nw">2026-11-20</span> <span class="adce-nw">08:00</span>' in tasks
