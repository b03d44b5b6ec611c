"""s3_* kinds: on moto (in-process and one over a real HTTP server) and on file:// locations; the
shared listing is counted in ListObjectsV2 calls."""
import datetime as dt
import os

import boto3
import pytest
from moto import mock_aws

from metrics.probes import REGISTRY, ProbeContext, ProbeError
from metrics.probes.base import ParamError

BUCKET = "lake"


def run(kind, ctx, base_dir="/", **params):
    probe = REGISTRY[kind]
    return probe.func(probe.validate(params, base_dir=base_dir), ctx)


@pytest.fixture
def s3(aws_env):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(client, key, size):
    client.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)


def counting_client(calls):
    client = boto3.client("s3", region_name="us-east-1")
    client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(kw.get("params", {}).get("Prefix")))
    return client


def test_counts_sizes_filters(s3):
    put(s3, "pbp/1.json", 10)
    put(s3, "pbp/2.json", 2000)
    put(s3, "pbp/2.json.bak", 5)
    put(s3, "pbp/sub/3.json", 3000)
    put(s3, "box/1.json", 7)
    ctx = ProbeContext()
    assert run("s3_object_count", ctx, location="s3://lake/pbp/") == 4
    assert run("s3_object_count", ctx, location="s3://lake/pbp/", suffix=".json") == 3
    assert run("s3_object_count", ctx, location="s3://lake/pbp/", glob="*.json") == 2        # relative key, one level
    assert run("s3_object_count", ctx, location="s3://lake/pbp/", glob="**/*.json") == 3
    assert run("s3_object_count", ctx, location="s3://lake/") == 5
    assert run("s3_total_bytes", ctx, location="s3://lake/pbp/") == 5015
    assert run("s3_total_bytes", ctx, location="s3://lake/pbp/", unit="KB") == pytest.approx(5015 / 1024)
    assert run("s3_total_bytes", ctx, location="s3://lake/pbp/", unit="MB") == pytest.approx(5015 / 1024**2)
    assert run("s3_small_object_count", ctx, location="s3://lake/pbp/", below_bytes=2000) == 2  # 10 and 5, not 2000
    age = run("s3_newest_age_hours", ctx, location="s3://lake/")
    assert 0 <= age < 0.1


def test_paginates_fully(s3):
    for i in range(1005):
        s3.put_object(Bucket=BUCKET, Key=f"many/{i:05d}.json", Body=b"")
    assert run("s3_object_count", ProbeContext(), location="s3://lake/many/") == 1005


def test_missing_bucket_is_an_error_not_zero(aws_env):
    with mock_aws():
        ctx = ProbeContext()
        with pytest.raises(ProbeError, match="s3://absent/"):
            run("s3_object_count", ctx, location="s3://absent/")
        # a second metric on the same location gets the same error without listing again
        with pytest.raises(ProbeError):
            run("s3_total_bytes", ctx, location="s3://absent/")
        assert ctx.listings_made == 1


def test_empty_location_has_no_newest_age(s3):
    with pytest.raises(ProbeError, match="no objects"):
        run("s3_newest_age_hours", ProbeContext(), location="s3://lake/nothing/")


def test_one_listing_per_root_location(s3):
    for i in range(30):
        put(s3, f"a/{i}.json", 1)
        put(s3, f"a/deep/{i}.json", 1)
        put(s3, f"b/{i}.json", 1)
    bare = []
    bare_client = counting_client(bare)
    from reconciliation.storage import list_objects, parse_location

    for uri in ("s3://lake/a/", "s3://lake/b/"):
        list(list_objects(parse_location(uri), client=bare_client))

    calls = []
    ctx = ProbeContext(client=counting_client(calls))
    ctx.plan_locations(["s3://lake/a/", "s3://lake/a/deep/", "s3://lake/b/"])
    assert run("s3_object_count", ctx, location="s3://lake/a/") == 60
    assert run("s3_object_count", ctx, location="s3://lake/a/deep/") == 30   # served by filtering a/
    assert run("s3_total_bytes", ctx, location="s3://lake/a/") == 60
    assert run("s3_small_object_count", ctx, location="s3://lake/b/", below_bytes=2) == 30
    assert run("s3_newest_age_hours", ctx, location="s3://lake/b/") >= 0
    assert ctx.listings_made == 2
    assert len(calls) == len(bare)                     # same ListObjectsV2 calls as one bare listing each
    assert ctx.list_calls == len(calls)


def test_naive_context_without_plan_lists_each_location_once(s3):
    put(s3, "a/1", 1)
    put(s3, "a/x/2", 1)
    ctx = ProbeContext()
    for _ in range(3):
        run("s3_object_count", ctx, location="s3://lake/a/")
    run("s3_object_count", ctx, location="s3://lake/a/x/")
    assert ctx.listings_made == 2  # cached by URI even without a plan


def test_newest_age_uses_last_modified_not_key_order(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    for name, hours_ago in (("a.json", 2), ("m.json", 10), ("z.json", 30)):
        path = tmp_path / name
        path.write_text("{}")
        ts = (now - dt.timedelta(hours=hours_ago)).timestamp()
        os.utime(path, (ts, ts))
    ctx = ProbeContext()
    ctx.now = now
    assert run("s3_newest_age_hours", ctx, location=f"file://{tmp_path}/") == pytest.approx(2, abs=0.01)
    assert run("s3_object_count", ctx, location=f"file://{tmp_path}/", glob="[am]*") == 2


def test_file_location_relative_to_import_dir(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("hello")
    assert run("s3_total_bytes", ProbeContext(), base_dir=tmp_path, location="file://d/") == 5


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ProbeError):
        run("s3_object_count", ProbeContext(), location=f"file://{tmp_path}/absent/")


@pytest.mark.parametrize("params,key", [
    ({}, "location"),
    ({"location": "s3://"}, "location"),
    ({"location": "s3://b/", "unit": "KiB"}, "unit"),
    ({"location": "s3://b/", "colour": "red"}, "colour"),
])
def test_validation(params, key):
    with pytest.raises(ParamError) as exc:
        REGISTRY["s3_total_bytes"].validate(params, base_dir="/")
    assert exc.value.key == key


def test_over_threaded_moto_server(aws_env, monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        client.create_bucket(Bucket="srv")
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:  # more than one page
            list(pool.map(lambda i: client.put_object(Bucket="srv", Key=f"p/{i:04d}", Body=b"ab"), range(1003)))
        ctx = ProbeContext()
        assert run("s3_object_count", ctx, location="s3://srv/p/") == 1003
        assert run("s3_total_bytes", ctx, location="s3://srv/p/") == 2006
        assert ctx.listings_made == 1 and ctx.list_calls >= 2
    finally:
        server.stop()


# --- kinds added for the original's translated one-liners (SPEC §11) ---------------------------

def test_average_ratio_and_age_in_days(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    (tmp_path / "pbp").mkdir()
    (tmp_path / "box").mkdir()
    for name, size, days_ago in (("pbp/z.json", 1024, 5), ("pbp/a.json", 3072, 2), ("pbp/b.csv", 2048, 9),
                                 ("box/1.json", 10, 1), ("box/2.json", 10, 1), ("box/3.json", 10, 1),
                                 ("box/4.json", 10, 1)):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        ts = (now - dt.timedelta(days=days_ago)).timestamp()
        os.utime(path, (ts, ts))
    ctx = ProbeContext()
    ctx.now = now
    pbp, box = f"file://{tmp_path}/pbp/", f"file://{tmp_path}/box/"
    assert run("s3_average_bytes", ctx, location=pbp) == 2048
    assert run("s3_average_bytes", ctx, location=pbp, unit="KB") == 2.0
    assert run("s3_average_bytes", ctx, location=pbp, suffix=".json", unit="KB") == 2.0
    assert run("s3_object_ratio", ctx, location=pbp, denominator_location=box) == 0.75
    assert run("s3_object_ratio", ctx, location=pbp, suffix=".json", denominator_location=pbp, scale=100) \
        == pytest.approx(200 / 3)
    assert run("s3_object_ratio", ctx, location=box, denominator_location=pbp, denominator_suffix=".csv") == 4
    # The newest by mtime (a.json, 2 days), not the key-sorted last one (z.json, 5 days).
    assert run("s3_newest_age_days", ctx, location=pbp, suffix=".json") == pytest.approx(2, abs=1e-6)
    assert run("s3_newest_age_hours", ctx, location=pbp, suffix=".json") == pytest.approx(48, abs=1e-4)


def test_average_ratio_age_of_nothing_are_errors_never_zero(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "f").write_text("x")
    empty, one = f"file://{tmp_path}/empty/", f"file://{tmp_path}/one/"
    ctx = ProbeContext()
    with pytest.raises(ProbeError, match="no objects to average"):
        run("s3_average_bytes", ctx, location=empty)
    with pytest.raises(ProbeError, match="no objects to divide by"):
        run("s3_object_ratio", ctx, location=one, denominator_location=empty)
    with pytest.raises(ProbeError, match="no objects to take the newest age"):
        run("s3_newest_age_days", ctx, location=empty)
    with pytest.raises(ProbeError, match="no such|does not exist|not"):
        run("s3_object_ratio", ctx, location=f"file://{tmp_path}/missing/", denominator_location=one)


@pytest.mark.parametrize("params, key", [
    ({"location": "s3://lake/a/"}, "denominator_location"),
    ({"location": "s3://lake/a/", "denominator_location": "ftp://x/"}, "denominator_location"),
    ({"location": "s3://lake/a/", "denominator_location": "s3://lake/b/", "scale": "100"}, "scale"),
    ({"location": "s3://lake/a/", "denominator_location": "s3://lake/b/", "denominator_colour": 1}, "denominator_colour"),
])
def test_ratio_parameters_are_checked(params, key):
    with pytest.raises(ParamError) as info:
        REGISTRY["s3_object_ratio"].validate(params, base_dir="/")
    assert info.value.key == key


def test_average_unit_is_checked():
    with pytest.raises(ParamError) as info:
        REGISTRY["s3_average_bytes"].validate({"location": "s3://lake/", "unit": "GiB"}, base_dir="/")
    assert info.value.key == "unit"
