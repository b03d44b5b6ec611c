"""Fuzzing S3 keys (unicode, spaces, very long, `../`, percent-encoding) through the location
parser, the partition matcher, the local lister and the S3 Inventory CSV reader: no crash, and
keys come back exactly as they were stored."""
import datetime as dt
import gzip
import os

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reconciliation.domain.matcher import PartitionMatcher
from reconciliation.storage import LocationError, StorageError, list_objects, parse_location
from reconciliation.storage import inventory_report as ir
from bench.inventory_writer import write_csv_inventory_report
from reconciliation.storage.inventory_report import read_inventory_report

from .helpers import FUZZ, NASTY
from tests.reconciliation.matcher_helpers import spec_at

# Keys as S3 allows them (any UTF-8, up to 1024 bytes), biased towards the hard cases.
def _s3_text(s: str) -> bool:
    """S3 keys are UTF-8 (no lone surrogates) and never contain NUL."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in s


KEY_PART = st.one_of(
    NASTY.filter(_s3_text),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30),
    st.sampled_from(["a b", " lead", "trail ", "..", ".", "%2F", "%25", "+", "a+b", "%20", "100%", "é/ü",
                     "espn_play_by_play", "401584689.json", "x" * 300]),
)
KEYS = st.lists(KEY_PART, min_size=1, max_size=5).map("/".join).filter(lambda k: 0 < len(k.encode("utf-8")) <= 1024)
GAME_ID = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=200)

MATCHER = PartitionMatcher([
    spec_at(1, "s3://lake/", ["espn_play_by_play/{game_id}.json", "pbp/{game_id}.json"]),
    spec_at(2, "s3://lake/", ["espn_schedules/{date}.json"]),
    spec_at(3, "s3://lake/nba_api/", ["adv/{season}/{game_id}.parquet"]),
    spec_at(4, "s3://lake/", ["hoopr/{season_start}-{season_end}/pbp.csv"]),
    spec_at(5, "s3://lake/", ["static/teams.json"]),
])


@FUZZ
@given(key=KEYS)
def test_matcher_never_crashes_and_only_matches_whole_keys(key):
    m = MATCHER.match("s3://lake", key)
    if m is None:
        return
    if m.data_type_id == 1:
        assert key in (f"espn_play_by_play/{m.partition}.json", f"pbp/{m.partition}.json")
        assert "/" not in m.partition and m.partition
    elif m.data_type_id == 5:
        assert key == "static/teams.json" and m.partition == ""
    else:
        assert m.partition and "/" not in m.partition


@FUZZ
@given(game_id=GAME_ID, layout=st.sampled_from(["espn_play_by_play", "pbp"]))
def test_any_game_id_round_trips_through_the_matcher(game_id, layout):
    m = MATCHER.match("s3://lake", f"{layout}/{game_id}.json")
    assert m is not None and (m.data_type_id, m.partition) == (1, game_id)
    # Case, a trailing suffix or a `../` detour is another key, not this partition.
    assert MATCHER.match("s3://lake", f"{layout}/{game_id}.json.bak") in (None, m._replace(partition=f"{game_id}.json.bak"))
    assert MATCHER.match("s3://lake", f"{layout}/../{layout}/{game_id}.json") is None
    assert MATCHER.match("s3://lake", f"{layout.upper()}/{game_id}.json") is None


@FUZZ
@given(uri=st.one_of(st.text(max_size=60), KEYS.map(lambda k: "s3://" + k), KEYS.map(lambda k: "file:///" + k),
                     st.sampled_from(["s3://", "s3:///x", "file://", "file://host/x", "S3://Bucket/x", "s3://b/../..",
                                      "file:///tmp/../../etc", "file:///a\x00b", "s3://b" + "/x" * 600])))
def test_parse_location_is_a_location_or_a_location_error(uri):
    try:
        loc = parse_location(uri)
    except LocationError as exc:
        # The message quotes the URI as given (newlines included); commands fold it into one line.
        assert str(exc).strip()
        return
    assert loc.prefix == "" or loc.prefix.endswith("/")
    if loc.scheme == "file":
        assert ".." not in loc.prefix.split("/")  # normalised: no escaping the folder by `..`
    assert parse_location(loc.uri) == loc  # canonical


# --- local folders ---------------------------------------------------------------------------------

FILE_NAME = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=60).filter(
    lambda n: n not in (".", "..") and len(n.encode("utf-8", "surrogatepass")) <= 255)


@FUZZ
@given(names=st.lists(st.lists(FILE_NAME, min_size=1, max_size=3), min_size=1, max_size=6))
def test_local_listing_returns_every_file_with_its_exact_key(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("lake")
    expected = set()
    for parts in names:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                continue
            path.write_bytes(b"x")
        except (OSError, UnicodeEncodeError):  # a file where a folder is wanted, or the reverse
            continue
        expected.add(str(path)[1:])
    expected = {k for k in expected if os.path.isfile("/" + k)}
    listed = [o.key for o in list_objects(f"file://{root}/")]
    assert set(listed) == expected and len(listed) == len(expected)


# --- S3 Inventory CSV reports ------------------------------------------------------------------------

@pytest.fixture(params=[True, False], ids=["arrow", "python"])
def reader(request, monkeypatch):
    monkeypatch.setattr(ir, "ARROW_CSV", request.param)
    return request.param


T0 = dt.datetime(2024, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


@FUZZ
@given(keys=st.lists(KEYS, min_size=1, max_size=20, unique=True))
def test_inventory_report_keys_round_trip(reader, tmp_path_factory, keys):
    assume(all(k.strip() or k for k in keys))
    folder = tmp_path_factory.mktemp("inv")
    rows = [(k, i, T0 + dt.timedelta(seconds=i), f"etag{i}") for i, k in enumerate(keys)]
    manifest = write_csv_inventory_report(str(folder), source_bucket="lake", rows=rows)
    report = read_inventory_report(manifest)
    got = [(k, s) for k, s, _, _ in report.iter_rows()]
    assert got == [(k, i) for i, k in enumerate(keys)]


LINE = st.one_of(
    st.text(max_size=80),
    st.builds(lambda k, s, t: f'"lake","{k}",{s},{t},"e","STANDARD"', st.text(max_size=20),
              st.one_of(st.integers(-5, 10**12).map(str), st.text(max_size=5)),
              st.one_of(st.just("2024-11-01T12:00:00.000Z"), st.text(max_size=25))),
    st.sampled_from(['"lake","a%ZZb",1,2024-11-01T12:00:00.000Z,"e","S"', '"lake","%C3",1,2024-11-01T12:00:00.000Z,"e","S"',
                     '"other","k",1,2024-11-01T12:00:00.000Z,"e","S"', '"lake","",1,2024-11-01T12:00:00.000Z,"e","S"',
                     '"lake","k",1', "", '"unterminated']),
)


@FUZZ
@given(lines=st.lists(LINE, min_size=1, max_size=8), raw=st.booleans(), garbage=st.binary(max_size=40))
def test_inventory_report_malformed_data_is_a_storage_error(reader, tmp_path_factory, lines, raw, garbage):
    folder = tmp_path_factory.mktemp("bad")
    manifest = write_csv_inventory_report(str(folder), source_bucket="lake",
                                          rows=[("ok", 1, T0, "e")])
    data = next(p for p in folder.rglob("*.csv.gz"))
    payload = garbage if raw else gzip.compress("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    data.write_bytes(payload)
    import json
    mpath = manifest[len("file://"):]
    doc = json.load(open(mpath))
    for f in doc["files"]:  # the manifest's checksum would catch the swap: drop it to reach the parser
        f.pop("MD5checksum", None)
        f.pop("size", None)
    json.dump(doc, open(mpath, "w"))
    try:
        rows = list(read_inventory_report(manifest).iter_rows())
    except StorageError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    for key, size, lm, _ in rows:  # accepted rows are well-formed
        assert key and isinstance(size, int) and size >= 0 and lm.tzinfo is not None
