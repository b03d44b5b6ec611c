"""s3:// listing: in-process moto for behaviour, ThreadedMotoServer for real HTTP."""
import datetime as dt
import types

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse

from reconciliation.storage import ListingStats, ObjectInfo, StorageError, list_objects, make_s3_client
from reconciliation.storage import s3 as s3mod


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


def _error_response(status: int, code: str, message: str = "injected") -> AWSResponse:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>x</RequestId></Error>").encode()
    return AWSResponse("https://injected", status, {"Content-Type": "application/xml"}, _Raw(body))


@pytest.fixture
def no_sleep(monkeypatch):
    """Backoff sleeps are recorded instead of slept (botocore's and ours)."""
    sleeps = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=sleeps.append))
    monkeypatch.setattr(s3mod, "_sleep", sleeps.append)
    return sleeps


@pytest.fixture
def small_pages(monkeypatch):
    """100 keys per page: exercises pagination without thousands of moto objects."""
    monkeypatch.setattr(s3mod, "PAGE_SIZE", 100)
    return 100


def _bare_keys(client, bucket, prefix=""):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", ()))
    return keys


def test_pagination_past_1000_keys_flat(moto_bucket):
    keys = [f"flat/{i:05d}.json" for i in range(2345)]
    moto_bucket.put_many(keys)
    stats = ListingStats()
    objs = list(list_objects(f"s3://{moto_bucket.name}/flat/", stats=stats))
    assert [o.key for o in objs] == keys
    assert stats.list_calls == 3  # 1000 + 1000 + 345, no sub-prefixes to split
    assert stats.objects == 2345 and stats.prefixes == 0


def test_split_across_prefixes_is_complete_and_in_key_order(moto_bucket, small_pages):
    keys = [f"raw/{t}/{i:04d}.json" for t in ("espn", "nba_api", "hoopr") for i in range(250)]
    keys += ["raw/a.json", "raw/espn-old.json", "raw/espn0", "raw/zz", "raw/hoopr/deep/er/x.parquet", "raw/ü/é.json"]
    keys += ["raw2/not-under.json", "other/x.json"]
    moto_bucket.put_many(keys, b"12345")
    stats = ListingStats()
    objs = list(list_objects(f"s3://{moto_bucket.name}/raw/", stats=stats))
    expected = sorted(k for k in keys if k.startswith("raw/"))
    assert [o.key for o in objs] == expected == _bare_keys(moto_bucket.client, moto_bucket.name, "raw/")
    assert stats.prefixes == 4  # espn/, hoopr/, nba_api/, ü/
    assert stats.objects == len(expected) and stats.bytes == 5 * len(expected)
    obj = objs[0]
    assert isinstance(obj, ObjectInfo) and obj.size == 5
    assert obj.last_modified.tzinfo == dt.timezone.utc
    assert obj.etag and '"' not in obj.etag
    # deterministic: a second listing is identical
    assert list(list_objects(f"s3://{moto_bucket.name}/raw/")) == objs


def test_whole_bucket_with_a_lone_top_prefix_descends(moto_bucket):
    keys = [f"lake/{t}/{i}.json" for t in "abc" for i in range(5)]
    moto_bucket.put_many(keys)
    stats = ListingStats()
    assert [o.key for o in list_objects(moto_bucket.uri, stats=stats)] == sorted(keys)
    assert stats.prefixes == 3


def test_empty_prefix_of_existing_bucket_is_a_valid_empty_listing(moto_bucket):
    moto_bucket.put("elsewhere/x.json")
    assert list(list_objects(f"s3://{moto_bucket.name}/nothing/here/")) == []


def test_missing_bucket_is_an_error(s3_mock):
    with pytest.raises(StorageError, match=r"^s3://no-such-bucket/: bucket does not exist$"):
        list(list_objects("s3://no-such-bucket/some/prefix/"))


def test_access_denied_is_an_error_and_not_retried(moto_bucket, no_sleep):
    moto_bucket.put("a/b.json")
    client = make_s3_client()
    calls = []

    def deny(params, **kwargs):
        calls.append(params)
        return _error_response(403, "AccessDenied", "Access Denied"), {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    client.meta.events.register("before-call.s3.ListObjectsV2", deny)
    with pytest.raises(StorageError, match=r"s3://adce-test-bucket/a/: access denied \(AccessDenied"):
        list(list_objects(f"s3://{moto_bucket.name}/a/", client=client))
    assert len(calls) == 1


def test_throttling_is_retried_by_botocore_and_listing_is_complete(moto_bucket, no_sleep, small_pages):
    keys = [f"p{i % 3}/{i:05d}" for i in range(700)]
    moto_bucket.put_many(keys)
    client = make_s3_client(max_attempts=5)
    failures = {"left": 4}

    def throttle(request, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            return _error_response(503, "SlowDown", "Please reduce your request rate.")
        return None

    # register_first: run before moto's in-process stubber, which also answers on before-send
    client.meta.events.register_first("before-send.s3.ListObjectsV2", throttle)
    stats = ListingStats()
    assert [o.key for o in list_objects(moto_bucket.uri, client=client, stats=stats)] == sorted(keys)
    assert failures["left"] == 0
    assert stats.http_retries == 4 and stats.resumed_pages == 0
    assert len(no_sleep) == 4  # one backoff sleep per retry


def test_failed_page_resumes_from_its_continuation_token(moto_bucket, no_sleep, small_pages):
    keys = [f"flat/{i:05d}" for i in range(250)]
    moto_bucket.put_many(keys)
    client = make_s3_client(max_attempts=1)
    seen = []
    failures = {"left": 2}

    def fail_second_page(params, **kwargs):
        token = params["query_string"].get("continuation-token")
        seen.append(token)
        if token and failures["left"]:
            failures["left"] -= 1
            return _error_response(500, "InternalError"), {
                "Error": {"Code": "InternalError", "Message": "We encountered an internal error."},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
        return None

    client.meta.events.register("before-call.s3.ListObjectsV2", fail_second_page)
    stats = ListingStats()
    assert [o.key for o in list_objects(f"s3://{moto_bucket.name}/flat/", client=client, stats=stats)] == keys
    assert stats.resumed_pages == 2
    # the retried calls asked for the same page again, not for the listing from the start
    tokens = seen
    assert tokens[0] is None and tokens[1] == tokens[2] == tokens[3] is not None
    assert tokens.count(None) == 1
    assert stats.list_calls == len(seen) == 5


def test_retries_exhausted_raise_instead_of_partial_listing(moto_bucket, no_sleep, small_pages):
    keys = [f"{t}/{i:05d}" for t in ("a", "b", "c") for i in range(250)]
    moto_bucket.put_many(keys)
    client = make_s3_client(max_attempts=2)

    def always_503_on_b(request, **kwargs):
        if "prefix=b%2F" in request.url and "continuation-token" in request.url:
            return _error_response(503, "ServiceUnavailable", "down")
        return None

    client.meta.events.register_first("before-send.s3.ListObjectsV2", always_503_on_b)
    stats = ListingStats()
    with pytest.raises(StorageError, match=r"s3://adce-test-bucket/: ServiceUnavailable.*after 3 rounds"):
        list(list_objects(moto_bucket.uri, client=client, stats=stats))
    assert stats.resumed_pages == s3mod.RESUME_ROUNDS - 1


def test_unreachable_endpoint_is_an_error(aws_env, monkeypatch, no_sleep, settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    settings.ADCE_S3_MAX_ATTEMPTS = 2
    with pytest.raises(StorageError, match=r"^s3://any-bucket/x/: EndpointConnectionError"):
        list(list_objects("s3://any-bucket/x/"))


def test_real_http_server_honours_aws_endpoint_url(server_bucket, moto_server, small_pages):
    keys = [f"espn/{i:04d}.json" for i in range(150)] + ["nba_api/a b+c.json", "nba_api/ünï/cödé.json", "top.json"]
    server_bucket.put_many(keys, b"{}")
    stats = ListingStats()
    objs = list(list_objects(server_bucket.uri, stats=stats))
    assert [o.key for o in objs] == sorted(keys)
    assert stats.prefixes == 2 and stats.list_calls == 1 + 2 + 1
    # the listing went over HTTP to the server named by AWS_ENDPOINT_URL
    assert make_s3_client().meta.endpoint_url == moto_server


def test_server_missing_bucket(moto_server):
    with pytest.raises(StorageError, match="bucket does not exist"):
        list(list_objects("s3://never-created/"))


def test_progress_is_reported(moto_bucket, monkeypatch):
    monkeypatch.setattr(s3mod, "_PROGRESS_EVERY", 40)
    moto_bucket.put_many(f"k/{i:05d}" for i in range(81))
    messages = []
    assert len(list(list_objects(moto_bucket.uri, progress=messages.append))) == 81
    assert messages == [f"{moto_bucket.uri}: 40 objects listed\n", f"{moto_bucket.uri}: 80 objects listed\n"]


def test_client_settings(aws_env, settings, monkeypatch):
    settings.ADCE_S3_MAX_ATTEMPTS = 5
    settings.ADCE_S3_LIST_WORKERS = 3
    client = make_s3_client()
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.config.max_pool_connections >= 5
    monkeypatch.setenv("ADCE_S3_RETRY_MODE", "adaptive")
    assert make_s3_client().meta.config.retries["mode"] == "adaptive"
    monkeypatch.setenv("ADCE_S3_RETRY_MODE", "sometimes")
    with pytest.raises(StorageError, match="cannot create S3 client.*ADCE_S3_RETRY_MODE"):
        list(list_objects("s3://any-bucket/"))


def test_abandoned_listing_shuts_its_pool_down(moto_bucket, small_pages):
    import threading

    moto_bucket.put_many(f"{t}/{i:04d}" for t in "abcd" for i in range(250))
    it = list_objects(moto_bucket.uri)
    assert next(it).key == "a/0000"
    it.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("adce-s3-list")]
