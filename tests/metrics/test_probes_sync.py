"""sync_diff between two locations (relative keys; missing on either side or differing in size)."""
import boto3
import pytest
from moto import mock_aws

from metrics.probes import REGISTRY, ProbeContext, ProbeError


def run(ctx, **params):
    probe = REGISTRY["sync_diff"]
    return probe.func(probe.validate(params, base_dir="/"), ctx)


def test_s3_to_local(aws_env, tmp_path):
    local = tmp_path / "mirror"
    (local / "d").mkdir(parents=True)
    (local / "same.json").write_bytes(b"12345")
    (local / "d" / "resized.json").write_bytes(b"1")
    (local / "only_local.json").write_bytes(b"1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="raw/same.json", Body=b"12345")
        s3.put_object(Bucket="bkt", Key="raw/d/resized.json", Body=b"12")
        s3.put_object(Bucket="bkt", Key="raw/only_s3.json", Body=b"1")
        ctx = ProbeContext()
        assert run(ctx, left="s3://bkt/raw/", right=f"file://{local}/") == 3


def test_identical_locations_give_zero(tmp_path):
    for side in ("l", "r"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "x").write_text("abc")
    assert run(ProbeContext(), left=f"file://{tmp_path}/l/", right=f"file://{tmp_path}/r/") == 0


def test_missing_side_is_an_error(tmp_path):
    (tmp_path / "l").mkdir()
    with pytest.raises(ProbeError):
        run(ProbeContext(), left=f"file://{tmp_path}/l/", right=f"file://{tmp_path}/absent/")
