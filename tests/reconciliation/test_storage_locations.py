import datetime as dt

import pytest

from reconciliation.storage import Location, LocationError, ObjectInfo, StorageError, parse_location


@pytest.mark.parametrize("uri, scheme, bucket, prefix, canonical, store", [
    ("s3://bkt", "s3", "bkt", "", "s3://bkt/", "s3://bkt"),
    ("s3://bkt/", "s3", "bkt", "", "s3://bkt/", "s3://bkt"),
    ("s3://bkt/raw/espn", "s3", "bkt", "raw/espn/", "s3://bkt/raw/espn/", "s3://bkt"),
    ("s3://bkt/raw/espn/", "s3", "bkt", "raw/espn/", "s3://bkt/raw/espn/", "s3://bkt"),
    ("S3://bkt/a b/", "s3", "bkt", "a b/", "s3://bkt/a b/", "s3://bkt"),
    ("file:///data/lake", "file", "", "data/lake/", "file:///data/lake/", "file://"),
    ("file:///data/lake/", "file", "", "data/lake/", "file:///data/lake/", "file://"),
    ("file:///data/./x/../lake//", "file", "", "data/lake/", "file:///data/lake/", "file://"),
    ("file:///", "file", "", "", "file:///", "file://"),
])
def test_parse_location_normalises(uri, scheme, bucket, prefix, canonical, store):
    loc = parse_location(uri)
    assert (loc.scheme, loc.bucket, loc.prefix, loc.uri, loc.store) == (scheme, bucket, prefix, canonical, store)
    assert parse_location(loc.uri) == loc
    assert parse_location(loc) is loc


@pytest.mark.parametrize("uri, reason", [
    ("", "empty"),
    ("s3://", "missing bucket"),
    ("s3:///prefix/", "missing bucket"),
    ("s3://bad bucket/", "invalid bucket"),
    ("http://example.com/x", "unsupported scheme"),
    ("gs://bkt/x", "unsupported scheme"),
    ("/data/lake", "not a storage URI"),
    ("file://data/lake", "absolute path"),
    ("file://host/data", "absolute path"),
])
def test_parse_location_rejects(uri, reason):
    with pytest.raises(LocationError) as info:
        parse_location(uri)
    assert reason in str(info.value)
    if uri:
        assert uri in str(info.value)
    # a bad URI is a ValueError and a StorageError: either handler catches it
    assert isinstance(info.value, ValueError) and isinstance(info.value, StorageError)


def test_relative_and_contains():
    loc = parse_location("s3://bkt/nba_api/")
    assert loc.contains("nba_api/boxscores/1.json")
    assert not loc.contains("nba_api_old/1.json")
    assert loc.relative("nba_api/boxscores/1.json") == "boxscores/1.json"
    with pytest.raises(ValueError):
        loc.relative("other/1.json")
    floc = parse_location("file:///srv/lake/")
    assert floc.path == "/srv/lake/"
    assert floc.relative("srv/lake/espn/1.json") == "espn/1.json"
    assert floc.child("espn") == Location("file", "", "srv/lake/espn/")


def test_object_info_is_frozen_with_slots():
    obj = ObjectInfo("k", 1, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    assert obj.etag == ""
    with pytest.raises(AttributeError):
        obj.size = 2
    assert not hasattr(obj, "__dict__")
