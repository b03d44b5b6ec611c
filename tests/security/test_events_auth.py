"""Issue 6 item 7: the events endpoints refuse missing (401), wrong (403) and replayed (409)
signatures; a refused request records nothing."""
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from events.auth import sign
from events.models import Event, SignatureSeen
from events.services import events_history_cleanup

TOKEN = "test-token"  # tests/conftest.py sets settings.ADCE_EVENTS_TOKEN to this
pytestmark = pytest.mark.django_db

EVENT = {"type": "scraper_complete", "source": "espn", "payload": {"scraper": "espn_async_scraper"}}
S3_BODY = {"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-11-20T10:00:00Z",
                        "s3": {"bucket": {"name": "lake"},
                               "object": {"key": "espn/401.json", "size": 1200, "sequencer": "0A1"}}}]}


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: "task-id")


def signed_post(path, body: bytes, signature=None, client=None, **headers):
    headers["HTTP_X_ADCE_SIGNATURE"] = sign(body, TOKEN) if signature is None else signature
    return (client or Client()).post(path, data=body, content_type="application/json", **headers)


def test_missing_credentials_401_records_nothing():
    r = Client().post("/api/events/", data=json.dumps(EVENT), content_type="application/json")
    assert r.status_code == 401 and "WWW-Authenticate" in r
    assert Event.objects.count() == 0 and SignatureSeen.objects.count() == 0


@pytest.mark.parametrize("signature", [
    sign(b"another body", TOKEN),                        # a valid signature of something else
    sign(json.dumps(EVENT).encode(), "wrong-token"),     # the right body, the wrong key
    "sha1=" + "0" * 40, "sha256=", "sha256=zz", "garbage", "sha256=" + "a" * 64,
])
def test_wrong_signature_403_records_nothing(signature):
    r = signed_post("/api/events/", json.dumps(EVENT).encode(), signature=signature)
    assert r.status_code == 403
    assert Event.objects.count() == 0 and SignatureSeen.objects.count() == 0


def test_tampered_body_403():
    body = json.dumps(EVENT).encode()
    signature = sign(body, TOKEN)
    tampered = body.replace(b"espn", b"nbaa")
    assert signed_post("/api/events/", tampered, signature=signature).status_code == 403
    assert Event.objects.count() == 0


@pytest.mark.parametrize("path,body", [("/api/events/", EVENT), ("/api/events/s3/", S3_BODY)])
def test_replayed_signature_409_records_nothing(path, body):
    raw = json.dumps(body).encode()
    first = signed_post(path, raw)
    assert first.status_code == 202
    events = list(Event.objects.values_list("pk", "type", "status"))
    replay = signed_post(path, raw)
    assert replay.status_code == 409 and "replayed" in replay.json()["error"]
    assert list(Event.objects.values_list("pk", "type", "status")) == events
    # Header spelling does not turn a replay into a new request.
    assert signed_post(path, raw, signature=sign(raw, TOKEN).upper().replace("SHA256", "sha256")).status_code == 409


def _spellings(signature: str) -> list[str]:
    """Every whitespace variant the header parser tolerates, and letter case (issue 15 item 1)."""
    hexpart = signature.split("=", 1)[1]
    out = []
    for ws in (" ", "  ", "\t", " \t ", "\t\t"):
        out += [f"sha256={ws}{hexpart}", f"sha256{ws}={hexpart}", f"sha256{ws}={ws}{hexpart}",
                f"{ws}sha256={hexpart}", f"sha256={hexpart}{ws}", f"{ws}sha256{ws}={ws}{hexpart}{ws}"]
    return out + [f"SHA256={hexpart}", f"sha256={hexpart.upper()}", f"Sha256 = {hexpart.upper()}\t"]


@pytest.mark.parametrize("path,body", [("/api/events/", EVENT), ("/api/events/s3/", S3_BODY)])
@pytest.mark.parametrize("first_plain", [True, False])
def test_every_whitespace_spelling_of_an_accepted_signature_is_a_replay(path, body, first_plain):
    """One signed body is accepted once, however its signature header is spaced or cased, whichever
    spelling came first; each spelling alone verifies (so the 409s are replays, not 403s)."""
    raw = json.dumps(body).encode()
    spellings = _spellings(sign(raw, TOKEN))
    first = sign(raw, TOKEN) if first_plain else spellings[0]
    assert signed_post(path, raw, signature=first).status_code == 202
    events = list(Event.objects.values_list("pk", "type", "status"))
    for spelling in spellings + [sign(raw, TOKEN)]:
        r = signed_post(path, raw, signature=spelling)
        assert r.status_code == 409, (repr(spelling), r.status_code, r.content[:200])
    assert list(Event.objects.values_list("pk", "type", "status")) == events
    assert SignatureSeen.objects.count() == 1


def test_the_endpoint_without_its_slash_is_the_same_endpoint_for_replays():
    raw = json.dumps(EVENT).encode()
    assert signed_post("/api/events", raw).status_code == 202
    assert signed_post("/api/events/", raw).status_code == 409
    assert Event.objects.count() == 1


@pytest.mark.parametrize("signature", ["sha256=\n{hex}", "sha 256={hex}", "sha256==={hex}", "sha256={hex}x",
                                       "sha256={hex} {hex}", "sha256=0x{hex}"])
def test_other_spellings_are_not_signatures(signature):
    raw = json.dumps(EVENT).encode()
    hexpart = sign(raw, TOKEN).split("=", 1)[1]
    r = signed_post("/api/events/", raw, signature=signature.format(hex=hexpart))
    assert r.status_code == 403 and Event.objects.count() == 0


def test_replay_without_dedupe_id_is_refused_but_a_new_body_is_accepted():
    raw = json.dumps(EVENT).encode()  # no "id": SPEC dedupe alone would record it twice
    assert signed_post("/api/events/", raw).status_code == 202
    assert signed_post("/api/events/", raw).status_code == 409
    other = json.dumps({**EVENT, "id": "run-2"}).encode()
    assert signed_post("/api/events/", other).status_code == 202
    assert Event.objects.count() == 2


def test_same_signature_on_another_endpoint_is_judged_there():
    raw = json.dumps(EVENT).encode()
    assert signed_post("/api/events/", raw).status_code == 202
    # /api/events/s3/ never accepted it: not a replay there (it is refused as a bad S3 body instead).
    assert signed_post("/api/events/s3/", raw).status_code == 400


def test_refused_request_is_not_remembered():
    bad = json.dumps({"source": "espn"}).encode()  # no type: 400
    assert signed_post("/api/events/", bad).status_code == 400
    assert SignatureSeen.objects.count() == 0
    assert signed_post("/api/events/", bad).status_code == 400  # still 400, not 409


def test_bearer_requests_are_not_replay_checked():
    # Documented: a bearer token is a static secret, each request is new (dedupe still applies).
    for _ in range(2):
        r = Client().post("/api/events/", data=json.dumps(EVENT), content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert r.status_code == 202
    assert Event.objects.count() == 2 and SignatureSeen.objects.count() == 0


def test_replay_memory_follows_history_retention():
    import datetime as dt

    from django.utils import timezone

    raw = json.dumps(EVENT).encode()
    assert signed_post("/api/events/", raw).status_code == 202
    SignatureSeen.objects.update(seen_at=timezone.now() - dt.timedelta(days=400))
    events_history_cleanup(365)
    assert SignatureSeen.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_exactly_one_accepted():
    """8 threads send the same signed request at once: one 202, seven 409, one event."""
    raw = json.dumps({**EVENT, "payload": {"n": 1}}).encode()
    barrier = threading.Barrier(8)
    codes = []

    def send():
        try:
            barrier.wait()
            codes.append(signed_post("/api/events/", raw).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202] + [409] * 7
    assert Event.objects.count() == 1 and SignatureSeen.objects.count() == 1
