"""S3 event messages as AWS documents them, to build test bodies from.

* S3 notification, version 2.1 ("Event message structure", Amazon S3 User Guide): Records[].eventName
  without the "s3:" prefix, s3.object.key URL-encoded as a form ("red flower.jpg" → "red+flower.jpg"),
  s3.object.sequencer a hex string; the s3:TestEvent sent when a notification is configured.
* SNS envelope (SNS "HTTP/HTTPS notification JSON format"): Type Notification with the S3 message as a
  JSON string in Message; SubscriptionConfirmation with Token and SubscribeURL.
* EventBridge (S3 "EventBridge event message structure"): detail-type "Object Created" / "Object
  Deleted", source aws.s3, detail.bucket.name, detail.object{key, size, etag, version-id, sequencer},
  detail.reason (PutObject, CopyObject, CompleteMultipartUpload, DeleteObject, Lifecycle Expiration),
  detail.deletion-type (Permanently Deleted, Delete Marker Created).
"""
from __future__ import annotations

import json
from urllib.parse import quote_plus

BUCKET = "nba-sim-raw-data-lake"


def encode_key(key: str) -> str:
    """How S3 writes a key in a notification: application/x-www-form-urlencoded, "/" kept."""
    return quote_plus(key, safe="/")


def s3_record(key: str, *, name="ObjectCreated:Put", size=1024, sequencer="0055AED6DCD90281E5",
              bucket=BUCKET, etag="d41d8cd98f00b204e9800998ecf8427e", version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
              encode=True, event_time="2026-11-22T09:00:00.000Z") -> dict:
    obj = {"key": encode_key(key) if encode else key}
    if size is not None:
        obj["size"] = size
    if etag is not None and name.startswith("ObjectCreated"):
        obj["eTag"] = etag
    if version_id:
        obj["versionId"] = version_id
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-west-2", "eventTime": event_time,
        "eventName": name, "userIdentity": {"principalId": "AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj},
    }


def notification(*records) -> dict:
    return {"Records": list(records)}


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2014-10-13T15:57:02.089Z",
              "Bucket": BUCKET, "RequestId": "5582815E1AEA5ADF",
              "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}


def sns_envelope(message: dict, *, message_id="da41e39f-ea4d-435a-b922-c6aae3915ebe") -> dict:
    return {
        "Type": "Notification", "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:s3-events", "Subject": "Amazon S3 Notification",
        "Message": json.dumps(message), "Timestamp": "2026-11-22T09:00:01.000Z", "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:s3-events:c9135db0",
    }


SUBSCRIPTION_CONFIRMATION = {
    "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:s3-events",
    "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:s3-events.\n"
               "To confirm the subscription, visit the SubscribeURL included in this message.",
    "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:s3-events&Token=2336412f37",
    "Timestamp": "2026-11-22T09:00:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
    "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
}


def eventbridge(key: str, *, detail_type="Object Created", reason="PutObject", deletion_type=None, size=5,
                sequencer="617f08299329d189", bucket=BUCKET, event_id="17793124-05d4-b198-2fde-7ededc63b103",
                encode=True, time="2026-11-22T09:00:00Z") -> dict:
    obj = {"key": encode_key(key) if encode else key}
    if size is not None:
        obj["size"] = size
        obj["etag"] = "b1946ac92492d2347c6235b4d2611184"
    obj["version-id"] = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    if sequencer is not None:
        obj["sequencer"] = sequencer
    detail = {"version": "0", "bucket": {"name": bucket}, "object": obj, "request-id": "N4N7GDK58NMKJ12R",
              "requester": "123456789012", "source-ip-address": "1.2.3.4", "reason": reason}
    if deletion_type:
        detail["deletion-type"] = deletion_type
    return {"version": "0", "id": event_id, "detail-type": detail_type, "source": "aws.s3",
            "account": "111122223333", "time": time, "region": "ca-central-1",
            "resources": [f"arn:aws:s3:::{bucket}"], "detail": detail}
