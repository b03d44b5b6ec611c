"""Scrapers' HTTP mirror of `manage.py tasks`, against the real task services."""
import json

import pytest
from django.test import Client

from tests.events.conftest import make_task

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

    r = post(f"/api/tasks/{task.pk}/complete/")  # a named claim needs its worker
    assert r.status_code == 409 and "claimed by 'w1'" in r.json()["error"]
    r = post(f"/api/tasks/{task.pk}/complete/", {"worker": "w1"})
    assert r.status_code == 200 and r.json()["task"]["status"] == "done"
    r = post(f"/api/tasks/{task.pk}/complete/", {"worker": "w1"})
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


# --- issue 15 -----------------------------------------------------------------------------------


def _expire_and_reclaim(task, first="A", second="B"):
    """A claims, A's lease runs out, B claims the same task (the review's sequence)."""
    import datetime as dt

    from reconciliation.models import Task

    assert post("/api/tasks/claim/", {"scraper": "espn_async_scraper", "worker": first}).status_code == 200
    Task.objects.filter(pk=task.pk).update(lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    r = post("/api/tasks/claim/", {"scraper": "espn_async_scraper", "worker": second})
    assert r.json()["task"]["claimed_by"] == second


@pytest.mark.parametrize("verb, extra", [("complete", {}), ("fail", {"error": "HTTP 503"})])
def test_only_the_current_holder_finishes_a_task(verb, extra):
    task = make_task()
    _expire_and_reclaim(task)
    stale = post(f"/api/tasks/{task.pk}/{verb}/", {"worker": "A", **extra})
    assert stale.status_code == 409 and "claimed by 'B', not 'A'" in stale.json()["error"]
    anonymous = post(f"/api/tasks/{task.pk}/{verb}/", extra or None)
    assert anonymous.status_code == 409
    task.refresh_from_db()
    assert task.status == "claimed" and task.claimed_by == "B" and task.last_error == "lease expired"
    r = post(f"/api/tasks/{task.pk}/{verb}/", {"worker": "B", **extra})
    assert r.status_code == 200 and r.json()["task"]["status"] == ("done" if verb == "complete" else "pending")


def test_an_unnamed_claim_completes_with_an_empty_body():
    task = make_task()
    post("/api/tasks/claim/", {"scraper": "espn_async_scraper"})
    assert post(f"/api/tasks/{task.pk}/complete/").json()["task"]["status"] == "done"


@pytest.mark.parametrize("body, message", [
    ({"scraper": "espn_async_scraper", "worker": "w" * 200}, "worker: at most 150 characters, got 200"),
    ({"scraper": "espn_async_scraper", "worker": 7}, "worker: expected a string"),
    ({"scraper": "espn_async_scraper", "lease_minutes": 0.05}, "lease_minutes: must be between 1 and 10080"),
    ({"scraper": "espn_async_scraper", "lease_minutes": 10081}, "lease_minutes: must be between 1 and 10080"),
    ({"scraper": "espn_async_scraper", "lease_minutes": True}, "lease_minutes: expected a number"),
])
def test_claim_bounds_are_400_and_claim_nothing(body, message):
    task = make_task()
    r = post("/api/tasks/claim/", body)
    assert r.status_code == 400 and r.json()["error"].startswith(message)
    task.refresh_from_db()
    assert task.status == "pending" and task.attempts == 0


@pytest.mark.parametrize("lease", [1, 10080, 2.5])
def test_claim_lease_bounds_are_inclusive(lease):
    make_task()
    assert post("/api/tasks/claim/", {"scraper": "espn_async_scraper", "lease_minutes": lease}).json()["task"]


def test_complete_with_an_over_long_worker_is_400():
    task = make_task()
    post("/api/tasks/claim/", {"scraper": "espn_async_scraper", "worker": "w1"})
    r = post(f"/api/tasks/{task.pk}/complete/", {"worker": "w" * 200})
    assert r.status_code == 400 and "worker: at most 150" in r.json()["error"]


def test_claim_for_an_unknown_scraper_is_404_like_the_cli():
    make_task()
    r = post("/api/tasks/claim/", {"scraper": "no_such_scraper"})
    assert r.status_code == 404 and "unknown scraper 'no_such_scraper'" in r.json()["error"]
    # A known scraper with nothing pending is still 200 null.
    post("/api/tasks/claim/", {"scraper": "espn_async_scraper"})
    assert post("/api/tasks/claim/", {"scraper": "espn_async_scraper"}).json() == {"task": None}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
def test_claim_checks_the_content_type(content_type):
    task = make_task()
    r = Client().post("/api/tasks/claim/", data=json.dumps({"scraper": "espn_async_scraper"}),
                      content_type=content_type, **AUTH)
    assert r.status_code == 415 and "Content-Type" in r.json()["error"]
    task.refresh_from_db()
    assert task.status == "pending"


def test_claim_accepts_json_with_a_charset():
    make_task()
    r = Client().post("/api/tasks/claim/", data=json.dumps({"scraper": "espn_async_scraper"}),
                      content_type="application/json; charset=utf-8", **AUTH)
    assert r.status_code == 200 and r.json()["task"]


def test_every_task_endpoint_answers_without_its_slash():
    task = make_task()
    r = post("/api/tasks/claim", {"scraper": "espn_async_scraper", "worker": "w"})
    assert r.status_code == 200 and r.json()["task"]["id"] == str(task.pk)
    assert post(f"/api/tasks/{task.pk}/complete", {"worker": "w"}).json()["task"]["status"] == "done"


def test_get_is_a_json_405():
    r = Client().get("/api/tasks/claim/", **AUTH)
    assert r.status_code == 405 and r["Allow"] == "POST" and "use POST" in r.json()["error"]
