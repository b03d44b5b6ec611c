import base64
import json

import pytest
from django.test import Client

from events.auth import sign
from events.choices import EventStatus
from events.models import Event
from events.services import PROCESS_TASK

TOKEN = "test-token"  # tests/conftest.py sets settings.ADCE_EVENTS_TOKEN to this
pytestmark = pytest.mark.django_db


def post(path, body, *, bearer=TOKEN, signature=None, raw=False, client=None, **headers):
    data = body if raw else json.dumps(body)
    if isinstance(data, str):
        data = data.encode()
    if bearer is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    if signature is not None:
        headers["HTTP_X_ADCE_SIGNATURE"] = signature
    client = client or Client(enforce_csrf_checks=True)  # machine endpoints are CSRF-exempt
    return client.post(path, data=data, content_type="application/json", **headers)


EVENT = {"type": "scraper_complete", "source": "espn", "id": "run-1", "payload": {"scraper": "espn_async_scraper"}}


# --- authentication: a refused request records nothing ---------------------------------------------

def test_missing_credentials_401(enqueued):
    r = post("/api/events/", EVENT, bearer=None)
    assert r.status_code == 401 and "Bearer" in r["WWW-Authenticate"]
    assert Event.objects.count() == 0 and enqueued == []


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer ", "Bearer test-token-and-more", "Token test-token",
                                    "Basic " + base64.b64encode(b"adce:wrong").decode(), "Basic !!notbase64"])
def test_wrong_credentials_403(header, enqueued):
    r = Client().post("/api/events/", data=json.dumps(EVENT), content_type="application/json",
                      HTTP_AUTHORIZATION=header)
    assert r.status_code == 403
    assert Event.objects.count() == 0 and enqueued == []


def test_no_token_configured_refuses_everything(settings, enqueued):
    settings.ADCE_EVENTS_TOKEN = ""
    assert post("/api/events/", EVENT, bearer="").status_code == 503
    assert post("/api/events/", EVENT, bearer=None).status_code == 503
    assert post("/api/events/s3/", {"Records": []}, bearer="anything").status_code == 503
    assert Event.objects.count() == 0


def test_hmac_signature_good(enqueued, django_capture_on_commit_callbacks):
    body = json.dumps(EVENT).encode()
    with django_capture_on_commit_callbacks(execute=True):
        r = post("/api/events/", body, raw=True, bearer=None, signature=sign(body, TOKEN))
    assert r.status_code == 202
    assert Event.objects.get().pk == r.json()["id"]
    assert enqueued == [(PROCESS_TASK, (r.json()["id"],))]


@pytest.mark.parametrize("make_sig", [
    lambda body: sign(body, "other-token"),
    lambda body: sign(body + b" ", TOKEN),                  # signature of another body
    lambda body: sign(body, TOKEN).replace("sha256=", "sha1="),
    lambda body: sign(body, TOKEN).replace("sha256=", ""),
    lambda body: "sha256=zz",
])
def test_hmac_signature_bad_403(make_sig, enqueued):
    body = json.dumps(EVENT).encode()
    r = post("/api/events/", body, raw=True, bearer=None, signature=make_sig(body))
    assert r.status_code == 403 and Event.objects.count() == 0


def test_a_wrong_credential_is_refused_even_beside_a_right_one():
    body = json.dumps(EVENT).encode()
    r = post("/api/events/", body, raw=True, bearer="wrong", signature=sign(body, TOKEN))
    assert r.status_code == 403 and Event.objects.count() == 0


def test_basic_auth_with_the_token_as_password_for_sns(enqueued):
    header = "Basic " + base64.b64encode(f"adce:{TOKEN}".encode()).decode()
    r = Client().post("/api/events/", data=json.dumps(EVENT), content_type="application/json", HTTP_AUTHORIZATION=header)
    assert r.status_code == 202


def test_post_only():
    r = Client().get("/api/events/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 405
    assert Client().put("/api/events/s3/", data="{}", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- bad bodies: 400, nothing recorded ---------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (json.dumps({"source": "espn"}).encode(), "type: required"),
    (json.dumps({"type": "bad type"}).encode(), "event type"),
    (json.dumps({"type": 7}).encode(), "event type"),
    (json.dumps({"type": "x", "payload": [1]}).encode(), "payload"),
    (json.dumps({"type": "x", "source": 3}).encode(), "source"),
    (json.dumps({"type": "x", "id": {"a": 1}}).encode(), "id"),
    (json.dumps({"type": "s3_event"}).encode(), "/api/events/s3/"),
])
def test_bad_event_body_400(body, message, enqueued):
    r = post("/api/events/", body, raw=True)
    assert r.status_code == 400 and message in r.json()["error"]
    assert Event.objects.count() == 0 and enqueued == []


def test_accepted_202_and_duplicate_delivery_is_one_event(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r1 = post("/api/events/", EVENT)
        r2 = post("/api/events/", EVENT)
    assert r1.status_code == r2.status_code == 202
    assert r1.json()["id"] == r2.json()["id"] and r2.json()["duplicate"] is True
    event = Event.objects.get()
    assert (event.type, event.source, event.dedupe_key, event.payload) == (
        "scraper_complete", "espn", "run-1", {"scraper": "espn_async_scraper"})
    assert len(enqueued) == 1


# --- S3 notifications -------------------------------------------------------------------------------

def s3_record(key="espn_play_by_play/401.json", sequencer="0055AED6DCD90281E5", name="ObjectCreated:Put", size=1234):
    obj = {"key": key, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": sequencer}
    if size is not None:
        obj["size"] = size
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-22T09:30:00.000Z", "eventName": name,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "nba-sim-raw-data-lake"}, "object": obj}}


def test_s3_records_become_one_event_each(enqueued, django_capture_on_commit_callbacks):
    body = {"Records": [s3_record(), s3_record(key="espn_box_scores/my+file%281%29.json", sequencer="0A")]}
    with django_capture_on_commit_callbacks(execute=True):
        r = post("/api/events/s3/", body)
    assert r.status_code == 202
    ids = r.json()["ids"]
    assert r.json()["id"] == ids[0] and len(ids) == 2 and r.json()["created"] == 2
    first, second = (Event.objects.get(pk=i) for i in ids)
    assert first.type == "s3_event" and first.source == "nba-sim-raw-data-lake"
    assert first.payload["size"] == 1234 and first.payload["event_name"] == "ObjectCreated:Put"
    assert second.payload["key"] == "espn_box_scores/my file(1).json"  # URL-decoded
    assert sorted(args[0] for _, args in enqueued) == sorted(ids)


def test_s3_same_sequencer_and_key_is_processed_once(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r1 = post("/api/events/s3/", {"Records": [s3_record()]})
        r2 = post("/api/events/s3/", {"Records": [s3_record()]})
        r3 = post("/api/events/s3/", {"Records": [s3_record(sequencer="0055AED6DCD90281E6")]})
    assert r1.json()["ids"] == r2.json()["ids"] and r2.json()["created"] == 0
    assert r3.json()["ids"] != r1.json()["ids"]
    assert Event.objects.count() == 2 and len(enqueued) == 2


def test_sns_envelope(enqueued):
    envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:lake",
                "Message": json.dumps({"Records": [s3_record()]})}
    r = post("/api/events/s3/", envelope)
    assert r.status_code == 202
    assert Event.objects.get(pk=r.json()["id"]).payload["key"] == "espn_play_by_play/401.json"


def test_sns_subscription_confirmation_is_recorded_never_fetched(enqueued, django_capture_on_commit_callbacks, monkeypatch):
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("must not fetch SubscribeURL"))
    body = {"Type": "SubscriptionConfirmation", "MessageId": "m-2", "TopicArn": "arn:aws:sns:us-east-1:1:lake",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x", "Token": "x"}
    with django_capture_on_commit_callbacks(execute=True):
        r = post("/api/events/s3/", body)
    assert r.status_code == 202 and "confirm" in r.json()["detail"]
    event = Event.objects.get()
    assert event.status == EventStatus.IGNORED and event.payload["SubscribeURL"].startswith("https://sns")
    assert enqueued == []


def test_s3_test_event_is_acknowledged_not_recorded():
    r = post("/api/events/s3/", {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    assert r.status_code == 200 and Event.objects.count() == 0


@pytest.mark.parametrize("body, message", [
    ({}, "Records: required"),
    ({"Records": []}, "Records: required"),
    ({"Records": [s3_record(), s3_record(size=None)]}, "Records[1].s3.object.size"),
    ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "Records[0].s3.bucket.name"),
    ({"Records": [{**s3_record(), "eventTime": "yesterday"}]}, "eventTime"),
    ({"Type": "Notification", "Message": "{not json"}, "Message: not valid JSON"),
    ({"Type": "Notification"}, "Message: required"),
    ({"Type": "Weird"}, "unsupported SNS message type"),
])
def test_bad_s3_body_400_records_nothing(body, message, enqueued):
    r = post("/api/events/s3/", body)
    assert r.status_code == 400 and message in r.json()["error"]
    assert Event.objects.count() == 0 and enqueued == []


def test_s3_auth_is_checked_before_the_body():
    r = post("/api/events/s3/", b"{not json", raw=True, bearer="wrong")
    assert r.status_code == 403 and Event.objects.count() == 0


# --- EventBridge (API destination) and the SNS token (SPEC §12) -----------------------------------------

def test_eventbridge_object_created_and_deleted_are_accepted(enqueued, django_capture_on_commit_callbacks):
    from .aws_shapes import eventbridge

    with django_capture_on_commit_callbacks(execute=True):
        created = post("/api/events/s3/", eventbridge("espn/red flower.json", size=5))
        deleted = post("/api/events/s3/", eventbridge("espn/red flower.json", detail_type="Object Deleted",
                                                      reason="Lifecycle Expiration", deletion_type="Permanently Deleted",
                                                      size=None, sequencer="617f08299329d18a", event_id="e-2"))
    assert created.status_code == 202 and deleted.status_code == 202
    events = {e.payload["event_name"]: e for e in Event.objects.all()}
    assert set(events) == {"ObjectCreated:Put", "LifecycleExpiration:Delete"}
    assert all(e.payload["key"] == "espn/red flower.json" and e.source == "nba-sim-raw-data-lake" for e in events.values())
    assert len(enqueued) == 2
    again = post("/api/events/s3/", eventbridge("espn/red flower.json", size=5))  # EventBridge retries
    assert again.status_code == 202 and again.json()["created"] == 0 and Event.objects.count() == 2


def test_eventbridge_event_of_another_service_is_400():
    from .aws_shapes import eventbridge

    r = post("/api/events/s3/", {**eventbridge("k"), "source": "aws.ec2"})
    assert r.status_code == 400 and "source" in r.json()["error"] and Event.objects.count() == 0


def test_sns_subscription_token_is_kept_and_shown_in_the_admin(admin_client):
    from .aws_shapes import SUBSCRIPTION_CONFIRMATION

    r = post("/api/events/s3/", SUBSCRIPTION_CONFIRMATION)
    assert r.status_code == 202
    event = Event.objects.get(pk=r.json()["id"])
    assert event.payload["Token"] == SUBSCRIPTION_CONFIRMATION["Token"]
    page = admin_client.get(f"/admin/events/event/{event.pk}/change/")
    assert page.status_code == 200
    assert "SNS token" in page.content.decode() and SUBSCRIPTION_CONFIRMATION["Token"] in page.content.decode()


# --- issue 15: refusals at the door --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/events/", "/api/events/s3/", "/api/tasks/claim/"])
def test_an_over_size_body_is_a_json_400(path, settings, enqueued):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = post(path, {"type": "x", "payload": {"pad": "x" * 2000}})
    assert r.status_code == 400 and r["Content-Type"] == "application/json"
    assert r.json() == {"error": "body: larger than 1000 bytes"}
    assert Event.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/events/", "/api/events/s3/"])
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/html", "application/xml"])
def test_a_body_that_is_not_json_typed_is_415(path, content_type, enqueued):
    r = Client().post(path, data=json.dumps(EVENT), content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 415 and content_type in r.json()["error"]
    assert Event.objects.count() == 0


def test_sns_text_plain_is_accepted_on_the_s3_endpoint_only(enqueued):
    # SNS posts its notifications as text/plain; charset=UTF-8.
    body = json.dumps({"Records": [s3_record()]})
    r = Client().post("/api/events/s3/", data=body, content_type="text/plain; charset=UTF-8",
                      HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 202
    r = Client().post("/api/events/", data=json.dumps(EVENT), content_type="text/plain; charset=UTF-8",
                      HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 415


def test_the_415_comes_after_authentication(enqueued):
    r = Client().post("/api/events/", data="a=b", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 401


@pytest.mark.parametrize("path", ["/api/events", "/api/events/s3"])
def test_post_without_the_trailing_slash_is_received(path, enqueued):
    body = EVENT if path == "/api/events" else {"Records": [s3_record()]}
    r = post(path, body)
    assert r.status_code == 202 and Event.objects.count() == 1


@pytest.mark.parametrize("bucket", ["../../tmp", "..", "a", "A-Bucket", "lake/../x", "b" * 64, "-lake", "lake.", "la..ke",
                                    "lake name"])
def test_an_s3_bucket_name_outside_s3s_rules_is_400(bucket, enqueued):
    record = s3_record()
    record["s3"]["bucket"]["name"] = bucket
    r = post("/api/events/s3/", {"Records": [record]})
    assert r.status_code == 400 and "s3.bucket.name" in r.json()["error"] and "not an S3 bucket name" in r.json()["error"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("size", [10**30, 2**63, -1])
@pytest.mark.parametrize("name", ["ObjectCreated:Put", "ObjectRemoved:Delete"])
def test_an_s3_object_size_beyond_a_bigint_is_400(size, name, enqueued):
    r = post("/api/events/s3/", {"Records": [s3_record(name=name, size=size)]})
    assert r.status_code == 400 and "s3.object.size" in r.json()["error"]
    assert Event.objects.count() == 0


def test_the_largest_storable_size_and_dotted_bucket_names_are_accepted(enqueued):
    record = s3_record(size=2**63 - 1)
    record["s3"]["bucket"]["name"] = "my.bucket-01"
    assert post("/api/events/s3/", {"Records": [record]}).status_code == 202
