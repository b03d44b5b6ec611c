"""Scrapers' HTTP mirror of `manage.py tasks`, against the real task services."""
import json

import pytest
from django.test import Client

from .conftest import make_task

pytestmark = pytest.mark.django_db
AUTH = {"HTTP_AUTHORIZATION": "Bearer test-token"}


def post(path, body=None, **headers):
    data = b"" if body is None else json.dumps(body).encode()
    return Client(enforce_csrf_checks=True).post(path, data=data, content_type="application/json", **{**AUTH, **headers})


def test_claim_complete_cycle():
    task = make_task(partitions=["401", "402"])
    r = post("/api/tasks/claim/", {"scraper": "espn_async_scraper", "lease_minutes": 15, "worker": "w1"})
    assert r.status_code == 200
    body = r.json()["task"]
    assert body["id"] == str(task.pk) and body["status"] == "claimed" and body["claimed_by"] == "w1"
    assert body["game_ids"] == ["401", "402"] and body["dates"] == [] and body["missing_files"] == 2
    assert post("/api/tasks/claim/", {"scraper": "espn_async_scraper"}).json() == {"task": None}

    r = post(f"/api/tasks/{task.pk}/complete/")
    assert r.status_code == 200 and r.json()["task"]["status"] == "done"
    r = post(f"/api/tasks/{task.pk}/complete/")
    assert r.status_code == 409 and "not claimed" in r.json()["error"]


def test_fail_needs_a_reason_and_returns_the_task_to_pending():
    task = make_task()
    post("/api/tasks/claim/", {"scraper": "espn_async_scraper"})
    r = post(f"/api/tasks/{task.pk}/fail/", {})
    assert r.status_code == 400 and "error" in r.json()["error"]
    r = post(f"/api/tasks/{task.pk}/fail/", {"error": "HTTP 503 from ESPN"})
    assert r.status_code == 200
    assert r.json()["task"]["status"] == "pending"
    task.refresh_from_db()
    assert task.last_error == "HTTP 503 from ESPN"


@pytest.mark.parametrize("path, body, status", [
    ("/api/tasks/claim/", {}, 400),
    ("/api/tasks/claim/", {"scraper": "x", "lease_minutes": 0}, 400),
    ("/api/tasks/claim/", {"scraper": "x", "lease_minutes": "5"}, 400),
    ("/api/tasks/not-a-uuid/complete/", None, 400),
    ("/api/tasks/00000000-0000-0000-0000-000000000000/complete/", None, 404),
    ("/api/tasks/00000000-0000-0000-0000-000000000000/fail/", {"error": "x"}, 404),
])
def test_bad_task_requests(path, body, status):
    make_task()
    assert post(path, body).status_code == status


def test_task_endpoints_need_auth():
    task = make_task()
    client = Client()
    assert client.post("/api/tasks/claim/", data=json.dumps({"scraper": "espn_async_scraper"}),
                       content_type="application/json").status_code == 401
    assert post("/api/tasks/claim/", {"scraper": "espn_async_scraper"}, HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    task.refresh_from_db()
    assert task.status == "pending"
