"""The admin's object browser with a store held in files (ADCE_OBJECT_STORE=files): the StoredObject list
shows, searches, filters, pages and exports every object — the files' and the rows' — staff only, and answers
bad input with a 400 naming it."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.interfaces import admin_base, object_browser
from reconciliation.storage.locations import ObjectInfo

from .object_files_helpers import UTC, file_inventory, object_row
from .test_tasks import make_source, make_type

LIST = "admin:reconciliation_storedobject_changelist"
T1 = dt.datetime(2024, 12, 1, 8, 30, tzinfo=UTC)
HEADERS = ["store", "key", "size", "last_modified", "etag", "source", "data_type", "partition", "scan"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lake(db, settings):
    settings.ADCE_OBJECT_STORE = "files"
    espn = make_source("espn")  # s3://lake/espn/
    nba = make_source("nba")    # s3://lake/nba/
    pbp = make_type(espn, "play_by_play")
    rows = [object_row("s3://lake", f"espn/play_by_play/40{i}.json", size=100 + i, source_id=espn.pk,
                       data_type_id=pbp.pk, partition=f"40{i}") for i in range(1, 6)]
    rows += [object_row("s3://lake", "nba/scores/1.json", size=7, source_id=nba.pk),
             object_row("s3://lake", "espn/play_by_play/401.json", size=999, source_id=espn.pk,  # listed twice
                        data_type_id=pbp.pk, partition="401")]
    file_inventory("s3://lake", rows)
    from reconciliation.models import StoredObject

    StoredObject.objects.create(store="s3://other", key="espn/play_by_play/401.json", size=3, last_modified=T1,
                                source=espn)  # a store held in rows, beside it
    objects_upsert("s3://lake", [ObjectInfo(key="espn/play_by_play/406.json", size=6, last_modified=T1, etag="n")])
    objects_delete("s3://lake", ["espn/play_by_play/402.json"])
    return {"espn": espn, "nba": nba, "pbp": pbp}


def listed(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content[:300]
    return [(o["store"], o["key"]) for o in response.context["objects"]]


ALL = [("s3://lake", "espn/play_by_play/401.json"), ("s3://lake", "espn/play_by_play/403.json"),
       ("s3://lake", "espn/play_by_play/404.json"), ("s3://lake", "espn/play_by_play/405.json"),
       ("s3://lake", "espn/play_by_play/406.json"), ("s3://lake", "nba/scores/1.json"),
       ("s3://other", "espn/play_by_play/401.json")]


def test_the_list_shows_every_object_without_counting_them(admin_client, lake):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(LIST))
    assert listed(response) == ALL
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    html = response.content.decode()
    assert "<td>play_by_play</td><td>401</td>" in html and ">999<" in html  # the later row of the key
    assert "2024-12-01 08:30:00 UTC" in html and "<td>nba</td>" in html


@pytest.mark.parametrize("term, found", [
    ("play_by_play/40", ALL[:5]),                               # relative to espn's location
    ("espn/play_by_play/401", [ALL[0], ALL[6]]),                # a full key, any store
    ("s3://other/espn/", [ALL[6]]),                             # a URI: that store only
    ("s3://lake/nba/", [ALL[5]]),
    ("scores/1", [ALL[5]]),                                     # relative to nba's location
    ("by_play/", []),                                           # prefix only
])
def test_search(admin_client, lake, term, found):
    response = admin_client.get(reverse(LIST), {"q": term})
    assert listed(response) == found
    assert f'value="{term}"' in response.content.decode()
    if not found:
        assert "No stored object matches this search" in response.content.decode()


def test_filter_by_source_and_search_together(admin_client, lake):
    assert listed(admin_client.get(reverse(LIST), {"source": lake["nba"].pk})) == [ALL[5]]
    assert listed(admin_client.get(reverse(LIST), {"source": lake["espn"].pk, "q": "espn/play_by_play/401"})) == [
        ALL[0], ALL[6]]


def test_keyset_pages_walk_every_object_once(admin_client, lake, monkeypatch):
    monkeypatch.setattr(object_browser, "PAGE_ROWS", 3)
    seen, url, pages = [], reverse(LIST), 0
    response = admin_client.get(url)
    while True:
        pages += 1
        seen += listed(response)
        nxt = response.context["next_query"]
        if not nxt:
            break
        assert f'href="?{nxt}"' in response.content.decode().replace("&amp;", "&")
        response = admin_client.get(url + "?" + nxt)
        assert response.context["first_query"] is not None
    assert seen == ALL and pages == 3


def test_paging_keeps_the_search(admin_client, lake, monkeypatch):
    monkeypatch.setattr(object_browser, "PAGE_ROWS", 2)
    first = admin_client.get(reverse(LIST), {"q": "play_by_play/40"})
    second = admin_client.get(reverse(LIST) + "?" + first.context["next_query"])
    assert listed(first) + listed(second) == ALL[:4]


def streamed(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def test_stream_csv_every_object_and_honours_search(admin_client, lake):
    url = reverse("admin:reconciliation_storedobject_export_csv")
    rows = streamed(admin_client.get(url))
    assert rows[0] == HEADERS and sorted((r[0], r[1]) for r in rows[1:]) == ALL
    rows = streamed(admin_client.get(url, {"q": "espn/play_by_play/401"}))
    assert rows[1:] == [["s3://lake", "espn/play_by_play/401.json", "999", "2024-11-01T10:00:00Z", "e", "espn",
                         "play_by_play", "401", ""],
                        ["s3://other", "espn/play_by_play/401.json", "3", "2024-12-01T08:30:00Z", "", "espn", "", "",
                         ""]]


def test_export_csv_and_xlsx_within_the_cap(admin_client, lake):
    import openpyxl

    url = reverse("admin:reconciliation_storedobject_export_file")
    rows = streamed(admin_client.get(url, {"format": "csv", "source": lake["nba"].pk}))
    assert rows == [HEADERS, ["s3://lake", "nba/scores/1.json", "7", "2024-11-01T10:00:00Z", "e", "nba", "", "", ""]]
    xlsx = admin_client.get(url, {"format": "xlsx", "q": "play_by_play/40"})
    assert xlsx["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.values)
    assert list(values[0]) == HEADERS and [v[1] for v in values[1:]] == [k for _s, k in ALL[:5]]
    assert values[1][3] == dt.datetime(2024, 11, 1, 10, 0) and values[1][2] == 999  # native cells


def test_export_above_the_cap_is_refused_with_the_stream_link(admin_client, lake, monkeypatch):
    monkeypatch.setattr(admin_base, "EXPORT_MAX_ROWS", 6)
    url = reverse("admin:reconciliation_storedobject_export_file")
    response = admin_client.get(url, {"format": "xlsx"}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "more than 6 rows" in html
    assert "/admin/reconciliation/storedobject/export-csv/" in html
    assert listed(response) == ALL  # back on the browser
    assert admin_client.get(url, {"format": "csv", "q": "espn/"})["Content-Type"].startswith("text/csv")


def test_import_export_form_leads_to_the_browser(admin_client, lake):
    response = admin_client.get(reverse("admin:reconciliation_storedobject_export"))
    assert response.status_code == 302 and response["Location"] == reverse(LIST)


@pytest.mark.parametrize("params, reason", [
    ({"after": "not-a-cursor!"}, "the page cursor 'after' is not one this browser made"),
    ({"after": "WyJ4Il0"}, "the page cursor 'after' is not one this browser made"),  # ["x"]
    ({"source": "espn"}, "source must be a source's id, not 'espn'"),
])
def test_bad_input_is_a_400_naming_it(admin_client, lake, params, reason):
    for name in (LIST, "admin:reconciliation_storedobject_export_csv", "admin:reconciliation_storedobject_export_file"):
        response = admin_client.get(reverse(name), {**params, "format": "csv"})
        assert response.status_code == 400 and response.content.decode() == f"Bad request: {reason}\n"
    response = admin_client.get(reverse("admin:reconciliation_storedobject_export_file"), {"format": "pdf"})
    assert response.status_code == 400 and b"format must be csv or xlsx" in response.content


@pytest.mark.parametrize("name", [LIST, "admin:reconciliation_storedobject_export_csv",
                                  "admin:reconciliation_storedobject_export_file"])
def test_non_staff_and_staff_without_permission_are_refused(client, lake, name):
    user = get_user_model().objects.create_user("joe", password="pw-joe-123")
    client.force_login(user)
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user.is_staff = True
    user.save()
    assert client.get(reverse(name), {"format": "csv"}).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_storedobject"))
    assert client.get(reverse(name), {"format": "csv"}).status_code == 200


@pytest.mark.parametrize("view, params", [("changelist", {}), ("export_file", {"format": "xlsx"})])
def test_a_store_whose_file_is_gone_is_a_503_naming_it_never_an_empty_list(admin_client, lake, view, params):
    import os

    from reconciliation.models import InventorySnapshot

    os.unlink(InventorySnapshot.objects.get(store="s3://lake").path)
    response = admin_client.get(reverse(f"admin:reconciliation_storedobject_{view}"), params)
    assert response.status_code == 503
    assert b"cannot be read: the inventory of s3://lake is held in files" in response.content
