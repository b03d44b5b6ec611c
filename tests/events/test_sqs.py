"""events.sqs + `manage.py consume_s3_events`: S3 events from an SQS queue, through moto in-process and
through moto's HTTP server (the network path the command really uses)."""
import json

import boto3
import pytest
from django.core.management import CommandError, call_command

from events.models import Event
from events.sqs import QueueError, s3_queue_consume

from .aws_shapes import SUBSCRIPTION_CONFIRMATION, TEST_EVENT, eventbridge, notification, s3_record, sns_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def sqs(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queue(client, name="s3-events", *, visibility=30, dlq_after=None):
    attributes = {"VisibilityTimeout": str(visibility)}
    if dlq_after:
        dlq = client.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(dlq_after)})
    return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _send(client, url, *documents):
    for doc in documents:
        client.send_message(QueueUrl=url, MessageBody=doc if isinstance(doc, str) else json.dumps(doc))


def _left(client, url) -> int:
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_every_body_shape_is_recorded_then_deleted(sqs):
    url = _queue(sqs)
    _send(sqs, url,
          notification(s3_record("espn/a b.json", sequencer="0A"), s3_record("espn/c+d.json", sequencer="0B")),
          sns_envelope(notification(s3_record("espn/café.json", sequencer="0C"))),
          eventbridge("espn/e%2Ff.json", sequencer="0D"),
          eventbridge("espn/gone.json", detail_type="Object Deleted", reason="DeleteObject",
                      deletion_type="Delete Marker Created", size=None, sequencer="0E", event_id="e-5"),
          notification(s3_record("espn/old.json", name="LifecycleExpiration:Delete", size=None, sequencer="0F")),
          TEST_EVENT, SUBSCRIPTION_CONFIRMATION)
    stats = s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    assert stats.messages == 7 and stats.deleted == 7 and stats.malformed == 0
    assert stats.recorded == 6 and stats.acknowledged == 1 and stats.subscriptions == 1
    keys = sorted(Event.objects.filter(type="s3_event").values_list("payload__key", flat=True))
    assert keys == ["espn/a b.json", "espn/c+d.json", "espn/café.json", "espn/e%2Ff.json", "espn/gone.json",
                    "espn/old.json"]
    assert Event.objects.get(type="sns_subscription_confirmation").payload["Token"] == SUBSCRIPTION_CONFIRMATION["Token"]
    assert _left(sqs, url) == 0


def test_duplicate_deliveries_record_once_and_are_deleted(sqs):
    url = _queue(sqs)
    body = notification(s3_record("espn/401.json", sequencer="0055AED6DCD90281E5"))
    _send(sqs, url, body, body, eventbridge("espn/401.json", sequencer="0055aed6dcd90281e5"))  # the same change 3x
    stats = s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    assert stats.recorded == 1 and stats.duplicates == 2 and stats.deleted == 3
    assert Event.objects.filter(type="s3_event").count() == 1 and _left(sqs, url) == 0


def test_malformed_messages_are_counted_and_left_for_the_redrive_policy(sqs, caplog):
    url = _queue(sqs, visibility=0, dlq_after=2)  # visibility 0: a refused message is back at once
    _send(sqs, url, "not json at all", notification(s3_record("k", size=None)),
          notification(s3_record("espn/ok.json")))
    stats = s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    assert stats.malformed == 2 and stats.recorded == 1 and stats.deleted == 1
    assert "left on the queue for its redrive policy" in caplog.text and "s3.object.size" in caplog.text
    assert Event.objects.count() == 1
    # still on the queue: a second run refuses them again; past maxReceiveCount SQS moves them to the DLQ
    s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    dlq = sqs.get_queue_url(QueueName="s3-events-dlq")["QueueUrl"]
    assert _left(sqs, url) == 0 and _left(sqs, dlq) == 2


def test_a_database_failure_leaves_the_message_and_the_loop_goes_on(sqs, monkeypatch):
    from events import sqs as module

    url = _queue(sqs, visibility=0)
    _send(sqs, url, notification(s3_record("a.json", sequencer="0A")), notification(s3_record("b.json", sequencer="0B")))
    real = module.s3_records_record

    def flaky(records):
        if records[0]["key"] == "a.json":
            raise RuntimeError("database is down")
        return real(records)

    monkeypatch.setattr(module, "s3_records_record", flaky)
    stats = s3_queue_consume(url, once=True, wait_seconds=0, client=sqs)
    assert stats.failed == 1 and stats.recorded == 1 and _left(sqs, url) == 1
    monkeypatch.setattr(module, "s3_records_record", real)
    assert s3_queue_consume(url, once=True, wait_seconds=0, client=sqs).recorded == 1
    assert _left(sqs, url) == 0


def test_a_missing_queue_is_an_error_before_anything(sqs):
    with pytest.raises(QueueError, match="cannot read the queue"):
        s3_queue_consume("https://sqs.us-east-1.amazonaws.com/123456789012/nope", once=True, client=sqs)


def test_long_running_loop_stops_when_asked(sqs):
    url = _queue(sqs)
    _send(sqs, url, notification(s3_record("a.json")))
    calls = []
    stats = s3_queue_consume(url, wait_seconds=0, client=sqs, stop=lambda: len(calls.append(1) or calls) > 3)
    assert stats.receives == 3 and stats.recorded == 1


# --- the command, over HTTP (moto server) ---------------------------------------------------------------

@pytest.fixture
def server_sqs(moto_server):
    return boto3.client("sqs", region_name="us-east-1")  # AWS_ENDPOINT_URL points at the moto server


def test_command_once_over_http(server_sqs, capsys):
    url = _queue(server_sqs)
    _send(server_sqs, url, sns_envelope(notification(s3_record("espn/✓ 1.json"))), eventbridge("espn/x+y.json"),
          TEST_EVENT)
    call_command("consume_s3_events", "--queue-url", url, "--once", "--wait-seconds", "1", "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["messages"] == 3 and out["recorded"] == 2 and out["deleted"] == 3 and out["malformed"] == 0
    assert sorted(Event.objects.values_list("payload__key", flat=True)) == ["espn/x+y.json", "espn/✓ 1.json"]
    assert _left(server_sqs, url) == 0


def test_command_once_exits_1_when_messages_were_malformed(server_sqs):
    url = _queue(server_sqs, visibility=0)
    _send(server_sqs, url, '{"Records": "nope"}', notification(s3_record("ok.json")))
    with pytest.raises(CommandError, match=r"1 message\(s\) left on the queue") as info:
        call_command("consume_s3_events", "--queue-url", url, "--once", "--wait-seconds", "0")
    assert info.value.returncode == 1
    assert Event.objects.count() == 1 and _left(server_sqs, url) == 1


@pytest.mark.parametrize("args, reason", [
    (["--queue-url", "http://127.0.0.1:1/123456789012/none"], "cannot read the queue"),
    (["--queue-url", "s3-events"], "not a queue URL"),
    (["--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q", "--wait-seconds", "21"], "--wait-seconds"),
])
def test_command_bad_input_exits_2(server_sqs, args, reason):
    with pytest.raises(CommandError, match=reason) as info:
        call_command("consume_s3_events", "--once", *args)
    assert info.value.returncode == 2


def test_scheduled_job_drains_the_configured_queue(server_sqs, settings):
    from events.tasks import consume_s3_queue

    assert consume_s3_queue() == {"skipped": "ADCE_S3_EVENTS_QUEUE_URL is not set"}
    settings.ADCE_S3_EVENTS_QUEUE_URL = _queue(server_sqs)
    _send(server_sqs, settings.ADCE_S3_EVENTS_QUEUE_URL, notification(s3_record("a.json")))
    result = consume_s3_queue()
    assert result["recorded"] == 1 and result["deleted"] == 1
