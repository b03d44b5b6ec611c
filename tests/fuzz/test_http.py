"""Fuzzing the HTTP endpoints with the Django test client (random JSON, random bytes, random
headers and paths): the answer is always one of the documented codes, never a 500, and a refused
request records nothing. The test client re-raises any server exception, so a crash fails loudly."""
import json
import uuid

import pytest
from django.test import Client
from hypothesis import event, given
from hypothesis import strategies as st

from events.auth import sign
from events.models import Event
from reconciliation.models import Task

from .helpers import FUZZ, JSONISH, NASTY, TEXT

TOKEN = "test-token"  # tests/conftest.py
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: "task-id")


def post(path, body: bytes, *, signed=False, **headers):
    if signed:
        headers["HTTP_X_ADCE_SIGNATURE"] = sign(body, TOKEN)
    else:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {TOKEN}")
    return Client().post(path, data=body, content_type="application/json", **headers)


def encode(document) -> bytes:
    # ASCII with escapes: \u0000 and lone surrogates reach the parser as JSON allows them.
    return json.dumps(document, allow_nan=True).encode()


def check(path, body: bytes, allowed, *, signed=False, **headers):
    before = Event.objects.count()
    r = post(path, body, signed=signed, **headers)
    event(f"{path} {r.status_code}")
    assert r.status_code in allowed, (r.status_code, r.content[:300])
    assert r["Content-Type"].startswith("application/json")
    if r.status_code >= 400:
        assert Event.objects.count() == before, "a refused request recorded something"
        assert "Traceback" not in r.content.decode("utf-8", "replace")
    return r


# Mostly valid types, so that the nasty sources, ids and payloads reach the database.
VALID_TYPE = st.sampled_from(["scraper_complete", "git_post_commit", "custom.type:1"])
EVENT_DOC = st.fixed_dictionaries({"type": st.one_of(VALID_TYPE, VALID_TYPE, VALID_TYPE, TEXT, JSONISH, st.sampled_from(
    ["s3_event", "x" * 101]))}, optional={
    "source": st.one_of(TEXT, st.text(min_size=140, max_size=160), JSONISH),
    "id": st.one_of(TEXT, st.integers(), st.text(min_size=250, max_size=300), JSONISH),
    "payload": st.one_of(JSONISH, st.dictionaries(TEXT, JSONISH, max_size=4)),
    "extra": JSONISH,
})


@FUZZ
@given(doc=st.one_of(EVENT_DOC, JSONISH), signed=st.booleans())
def test_events_endpoint_random_json(doc, signed):
    check("/api/events/", encode(doc), {202, 400, 409}, signed=signed)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_events_endpoint_random_bytes(body):
    check("/api/events/", body, {202, 400})


RECORD = st.fixed_dictionaries({}, optional={
    "eventName": st.one_of(st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "ObjectRestore:Post"]), JSONISH),
    "eventTime": st.one_of(st.just("2026-11-20T10:00:00Z"), st.just("2026-11-20T10:00:00+25:00"), JSONISH),
    "awsRegion": JSONISH,
    "s3": st.one_of(JSONISH, st.fixed_dictionaries({
        "bucket": st.one_of(JSONISH, st.fixed_dictionaries({"name": st.one_of(
            TEXT, st.just("lake"), st.text(min_size=150, max_size=170))})),
        "object": st.one_of(JSONISH, st.fixed_dictionaries({"key": st.one_of(
            TEXT, st.just("espn/401.json"), st.just("a%2Fb+c%ZZ"), st.text(min_size=1000, max_size=1100))}, optional={
            "size": st.one_of(st.integers(-1, 10**15), JSONISH), "sequencer": JSONISH, "eTag": JSONISH,
            "versionId": JSONISH})),
    })),
})
EVENTBRIDGE = st.fixed_dictionaries({"detail-type": st.one_of(st.sampled_from(
    ["Object Created", "Object Deleted", "Object Restore Completed"]), JSONISH),
    "detail": st.one_of(JSONISH, st.fixed_dictionaries({
        "bucket": st.one_of(JSONISH, st.fixed_dictionaries({"name": st.one_of(TEXT, st.just("lake"))})),
        "object": st.one_of(JSONISH, st.fixed_dictionaries({"key": st.one_of(TEXT, st.just("a%2Fb+c%ZZ"))}, optional={
            "size": st.one_of(st.integers(-1, 10**15), JSONISH), "sequencer": st.one_of(TEXT, JSONISH),
            "etag": JSONISH})),
    }, optional={"reason": st.one_of(st.sampled_from(["PutObject", "Lifecycle Expiration"]), JSONISH),
                 "deletion-type": JSONISH}))},
    optional={"source": st.one_of(st.just("aws.s3"), JSONISH), "id": JSONISH, "time": JSONISH})
S3_DOC = st.one_of(
    st.fixed_dictionaries({"Records": st.one_of(st.lists(RECORD, max_size=3), JSONISH)}),
    EVENTBRIDGE,
    st.builds(lambda records, t: {"Type": t, "MessageId": "m1", "TopicArn": "arn:aws:sns:x",
                                  "Message": json.dumps({"Records": records}, allow_nan=True)},
              st.lists(RECORD, max_size=2), st.sampled_from(["Notification", "SubscriptionConfirmation", "Other"])),
    st.fixed_dictionaries({"Type": st.one_of(TEXT, JSONISH), "Message": st.one_of(TEXT, JSONISH)}),
    st.just({"Event": "s3:TestEvent", "Service": "Amazon S3"}),
    JSONISH,
)


@FUZZ
@given(doc=S3_DOC)
def test_s3_endpoint_random_notifications(doc):
    check("/api/events/s3/", encode(doc), {200, 202, 400})


HEADER_VALUE = st.one_of(NASTY, TEXT.filter(lambda s: "\n" not in s and "\r" not in s),
                         st.sampled_from(["Bearer", "Bearer ", "Basic", "Basic Og==", "Basic " + "A" * 500,
                                          "Bearer test-token ", "bearer test-token", "sha256=", "sha256=" + "0" * 64]))


@FUZZ
@given(authorization=st.one_of(st.none(), HEADER_VALUE), signature=st.one_of(st.none(), HEADER_VALUE))
def test_random_credentials_are_401_or_403(authorization, signature):
    headers = {}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    if signature is not None:
        headers["HTTP_X_ADCE_SIGNATURE"] = signature
    before = Event.objects.count()
    r = Client().post("/api/events/", data=b'{"type": "scraper_complete"}', content_type="application/json",
                      **headers)
    event(str(r.status_code))
    if r.status_code == 202:  # only the real token, however spelled
        assert authorization and authorization.strip().lower() == "bearer test-token" and not signature
    else:
        assert r.status_code in (401, 403)
        assert Event.objects.count() == before


@FUZZ
@given(doc=st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
    "scraper": st.one_of(TEXT, JSONISH), "lease_minutes": JSONISH, "worker": st.one_of(TEXT, JSONISH)})))
def test_task_claim_random_json(doc):
    before = list(Task.objects.values_list("pk", "status"))
    r = post("/api/tasks/claim/", encode(doc))
    assert r.status_code in (200, 400, 404), r.content[:300]  # 404: an unknown scraper
    assert list(Task.objects.values_list("pk", "status")) == before  # no task exists: nothing to claim


@FUZZ
@given(task_id=st.one_of(TEXT, st.uuids().map(str)), verb=st.sampled_from(["complete", "fail"]),
       body=st.one_of(st.binary(max_size=50), JSONISH.map(encode)))
def test_task_endpoints_random_ids_and_bodies(task_id, verb, body):
    from urllib.parse import quote

    path = f"/api/tasks/{quote(task_id.encode('utf-8', 'surrogatepass'), safe='')}/{verb}/"
    r = post(path, body)
    assert r.status_code in (400, 404, 409), r.content[:300]


def test_task_complete_of_unknown_uuid_is_404():
    assert post(f"/api/tasks/{uuid.uuid4()}/complete/", b"").status_code == 404
