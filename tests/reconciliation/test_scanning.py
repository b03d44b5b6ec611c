"""scan_run: listing, matching, unmatched keys, inventory replacement, failures, sampling."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from adce_site.choices import RunStatus
from reconciliation.choices import ScanMode
from reconciliation.models import CatalogGame, DataType, ScanRun, Source, StoredObject
from reconciliation.domain.patterns import compile_pattern
from reconciliation.services.scan import scan_run
from reconciliation.services.scan_plan import ScanFailed, ScanInputError, minimal_locations
from reconciliation.storage import StorageError, parse_location

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


# ---- helpers shared by the scan/reconcile tests ------------------------------------------------

def make_source(name: str, location: str, data_types: dict, *, seasons=("2024-25",), scraper=None) -> Source:
    """A source and its data types as import_coverage would store them."""
    src = Source.objects.create(name=name, scraper=scraper or f"{name}_scraper", location=location,
                                seasons=list(seasons))
    for dt_name, conf in data_types.items():
        conf = {"path_patterns": conf} if isinstance(conf, list) else dict(conf)
        patterns = conf.pop("path_patterns")
        DataType.objects.create(source=src, name=dt_name, path_patterns=patterns, level=compile_pattern(patterns[0]).level, **conf)
    return src


def add_games(source: Source, games) -> None:
    """games: (game_id, season, 'YYYY-MM-DD')."""
    CatalogGame.objects.bulk_create(
        CatalogGame(source=source, game_id=g, season=s, game_date=dt.date.fromisoformat(d)) for g, s, d in games
    )


def put_file(root: Path, rel: str, data: bytes = b"x" * 200, mtime: dt.datetime | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        ts = mtime.timestamp()
        os.utime(path, (ts, ts))
    return path


def file_uri(path: Path) -> str:
    return f"file://{path}/"


def inventory(store: str | None = None) -> dict[str, tuple]:
    qs = StoredObject.objects.all()
    if store:
        qs = qs.filter(store=store)
    return {k: (size, dt_id, part) for k, size, dt_id, part in qs.values_list("key", "size", "data_type_id", "partition")}


# ---- tests ---------------------------------------------------------------------------------------

@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    src = make_source("espn", file_uri(root), {
        "pbp": {"path_patterns": ["pbp/{game_id}.json", "old_pbp/{game_id}.json"], "min_size_bytes": 100},
        "schedule": ["schedule/{date}.json"],
    })
    return root, src


def test_scan_file_location_matches_and_records(lake):
    root, src = lake
    when = dt.datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    put_file(root, "pbp/401.json", mtime=when)
    put_file(root, "old_pbp/402.json", b"tiny")
    put_file(root, "schedule/20241101.json")
    put_file(root, "pbp/401.json.bak")
    put_file(root, "PBP/403.json")

    run = scan_run()

    assert run.status == RunStatus.COMPLETED and run.mode == ScanMode.LIST
    assert (run.objects_seen, run.matched_count, run.unmatched_count) == (5, 3, 2)
    assert run.bytes_seen == 200 * 4 + 4
    assert sorted(run.unmatched_examples) == sorted(f"file:///{str(root).lstrip('/')}/{k}" for k in ("pbp/401.json.bak", "PBP/403.json"))
    assert run.sources == ["espn"] and run.locations == [file_uri(root)]
    inv = inventory("file://")
    prefix = str(root).lstrip("/") + "/"
    pbp = DataType.objects.get(name="pbp").pk
    sched = DataType.objects.get(name="schedule").pk
    assert inv[prefix + "pbp/401.json"] == (200, pbp, "401")
    assert inv[prefix + "old_pbp/402.json"] == (4, pbp, "402")
    assert inv[prefix + "schedule/20241101.json"] == (200, sched, "2024-11-01")
    assert inv[prefix + "pbp/401.json.bak"] == (200, None, "")
    obj = StoredObject.objects.get(key=prefix + "pbp/401.json")
    assert obj.last_modified == when and obj.source_id == src.pk and obj.scan_id == run.pk
    # unmatched objects still belong to the source whose location holds them
    assert StoredObject.objects.get(key=prefix + "PBP/403.json").source_id == src.pk
    assert run.stats["locations"][0]["objects"] == 5


def test_complete_scan_replaces_inventory_of_its_location(lake, tmp_path):
    root, _ = lake
    put_file(root, "pbp/1.json")
    gone = put_file(root, "pbp/2.json")
    scan_run()
    other = StoredObject.objects.create(store="s3://elsewhere", key="pbp/9.json", size=1,
                                        last_modified=dt.datetime(2024, 1, 1, tzinfo=UTC))
    gone.unlink()
    put_file(root, "pbp/3.json", b"y" * 300)
    scan_run()
    keys = set(inventory("file://"))
    prefix = str(root).lstrip("/") + "/"
    assert keys == {prefix + "pbp/1.json", prefix + "pbp/3.json"}
    assert StoredObject.objects.filter(pk=other.pk).exists()  # other stores untouched


def test_failed_listing_leaves_inventory_untouched_and_records_failure(lake, monkeypatch):
    root, _ = lake
    for i in range(5):
        put_file(root, f"pbp/{i}.json")
    scan_run()
    before = inventory()
    put_file(root, "pbp/99.json")

    import reconciliation.services.scan_stream as scan_stream
    real = scan_stream.list_objects

    def broken(location, **kw):
        for n, obj in enumerate(real(location, **kw)):
            if n == 3:
                raise StorageError(f"{location.uri}: page 2 failed after retries")
            yield obj

    monkeypatch.setattr(scan_stream, "list_objects", broken)
    with pytest.raises(ScanFailed, match="page 2 failed"):
        scan_run()
    assert inventory() == before
    failed = ScanRun.objects.order_by("-pk").first()
    assert failed.status == RunStatus.FAILED and "page 2 failed" in failed.error
    assert failed.finished_at is not None


def test_interrupted_scan_is_recorded_and_changes_nothing(lake, monkeypatch):
    root, _ = lake
    put_file(root, "pbp/1.json")
    import reconciliation.services.scan_stream as scan_stream

    def interrupted(location, **kw):
        yield from ()
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_stream, "list_objects", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scan_run()
    assert StoredObject.objects.count() == 0
    assert ScanRun.objects.get().status == RunStatus.INTERRUPTED


def test_missing_location_is_failed_scan(tmp_path):
    make_source("espn", file_uri(tmp_path / "nope"), {"pbp": ["pbp/{game_id}.json"]})
    with pytest.raises(ScanFailed, match="does not exist"):
        scan_run()
    run = ScanRun.objects.get()
    assert run.status == RunStatus.FAILED and "does not exist" in run.error
    assert run.objects_seen == 0 and StoredObject.objects.count() == 0


def test_minimal_set_of_locations(tmp_path):
    root = tmp_path / "lake"
    make_source("espn", file_uri(root), {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba_api", file_uri(root / "nba_api"), {"box": ["box/{game_id}.json"]})
    put_file(root, "pbp/1.json")
    put_file(root, "nba_api/box/2.json")
    run = scan_run()
    assert run.locations == [file_uri(root)]
    assert run.objects_seen == 2 and run.matched_count == 2
    assert sorted(run.sources) == ["espn", "nba_api"]
    box = StoredObject.objects.get(key__endswith="nba_api/box/2.json")
    assert (box.data_type.name, box.source.name, box.partition) == ("box", "nba_api", "2")


def test_every_query_of_a_scan_of_several_locations_runs_on_the_calling_thread(tmp_path, monkeypatch):
    """The scan reads ahead on a worker thread; a query there would open a second connection outside
    the scan's transaction (Django binds connections to threads). Two disjoint locations, two batches:
    the second target's listing and matching happen on the worker."""
    import threading

    from django.db.backends import utils

    make_source("espn", file_uri(tmp_path / "a"), {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba_api", file_uri(tmp_path / "b"), {"box": ["box/{game_id}.json"]})
    put_file(tmp_path / "a", "pbp/1.json")
    put_file(tmp_path / "b", "box/2.json")
    threads = set()
    execute = utils.CursorWrapper.execute

    def recording(self, *args, **kwargs):
        threads.add(threading.current_thread())
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(utils.CursorWrapper, "execute", recording)
    run = scan_run()
    assert len(run.locations) == 2 and run.matched_count == 2
    assert threads == {threading.current_thread()}
    assert set(StoredObject.objects.values_list("partition", flat=True)) == {"1", "2"}


def test_minimal_locations_function():
    locs = [parse_location(u) for u in ("s3://b/", "s3://b/x/", "s3://c/x/", "s3://c/xy/", "s3://c/x/y/")]
    assert [l.uri for l in minimal_locations(locs)] == ["s3://b/", "s3://c/x/", "s3://c/xy/"]


def test_location_override_is_judged_as_the_source_location(tmp_path):
    home = tmp_path / "home"
    copy = tmp_path / "copy"
    make_source("espn", file_uri(home), {"pbp": ["pbp/{game_id}.json"]})
    put_file(copy, "pbp/7.json")
    put_file(copy, "junk.txt")
    run = scan_run(sources=["espn"], location=file_uri(copy))
    assert run.location_override == file_uri(copy) and run.locations == [file_uri(copy)]
    assert (run.matched_count, run.unmatched_count) == (1, 1)
    obj = StoredObject.objects.get(partition="7")
    assert obj.key == str(copy).lstrip("/") + "/pbp/7.json"


@pytest.mark.parametrize("kwargs, message", [
    ({"sources": ["nope"]}, "unknown source 'nope'"),
    ({"location": "file:///tmp/"}, "--location needs exactly one --source"),
    ({"sources": ["espn"], "location": "ftp://x/"}, "unsupported scheme"),
    ({"sample_rate": 0}, "not in (0, 1]"),
    ({"sample_rate": 1.5}, "not in (0, 1]"),
    ({"seed": 3}, "--seed needs --sample-rate"),
])
def test_bad_input_writes_nothing(lake, kwargs, message):
    with pytest.raises(ScanInputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        scan_run(**kwargs)
    assert ScanRun.objects.count() == 0


def test_no_active_source_is_bad_input():
    with pytest.raises(ScanInputError, match="no active source"):
        scan_run()


def test_sampling_estimates_and_never_writes_inventory(lake):
    root, _ = lake
    for i in range(400):
        put_file(root, f"pbp/{i}.json", b"z" * 10)
    full = scan_run()
    before = inventory()
    s1 = scan_run(sample_rate=0.25, seed=7)
    s2 = scan_run(sample_rate=0.25, seed=7)
    assert s1.mode == ScanMode.SAMPLE and s1.status == RunStatus.COMPLETED
    assert inventory() == before  # never writes the inventory
    assert s1.objects_seen == s2.objects_seen  # deterministic
    assert 0 < s1.objects_seen < 400
    assert s1.estimated_objects == round(s1.objects_seen / 0.25)
    assert s1.estimated_bytes == round(s1.bytes_seen / 0.25)
    assert abs(s1.estimated_objects - full.objects_seen) < 0.3 * 400
    from reconciliation.selectors import last_completed_scan

    assert last_completed_scan() == full  # a sampled scan never stands for the inventory
    s3 = scan_run(sample_rate=1, seed=1)
    assert s3.objects_seen == s3.estimated_objects == 400


def test_s3_in_process(moto_bucket):
    make_source("espn", moto_bucket.uri, {"pbp": ["pbp/{game_id}.json"]})
    moto_bucket.put("pbp/1.json", "a" * 50)
    moto_bucket.put("pbp/2.json", "b" * 60)
    moto_bucket.put("misc/readme.txt", "c")
    run = scan_run()
    assert (run.objects_seen, run.bytes_seen, run.matched_count, run.unmatched_count) == (3, 111, 2, 1)
    assert run.unmatched_examples == [f"s3://{moto_bucket.name}/misc/readme.txt"]
    assert set(inventory(f"s3://{moto_bucket.name}")) == {"pbp/1.json", "pbp/2.json", "misc/readme.txt"}


def test_s3_server(server_bucket):
    make_source("espn", server_bucket.uri + "raw/", {"pbp": ["pbp/{game_id}.json"]})
    server_bucket.put_many([f"raw/pbp/{i}.json" for i in range(30)])
    server_bucket.put("outside/pbp/1.json")
    run = scan_run()
    assert run.locations == [server_bucket.uri + "raw/"]
    assert (run.objects_seen, run.matched_count) == (30, 30)
    assert StoredObject.objects.filter(store=f"s3://{server_bucket.name}").count() == 30


def test_s3_missing_bucket_fails(s3_mock):
    make_source("espn", "s3://no-such-bucket-here/", {"pbp": ["pbp/{game_id}.json"]})
    with pytest.raises(ScanFailed, match="no-such-bucket-here"):
        scan_run()
    assert ScanRun.objects.get().status == RunStatus.FAILED


# ---- inventory reports ----------------------------------------------------------------------------

def write_report(folder: Path, bucket: str, rows, *, corrupt: bool = False, destination: str = "reports") -> str:
    """A minimal S3 Inventory report (manifest.json + one gzipped CSV) under `folder`; returns the
    manifest's file:// URI. rows: (key, size, 'YYYY-MM-DDTHH:MM:SS.000Z')."""
    import gzip
    import hashlib
    import json
    import urllib.parse

    data_dir = folder / bucket / "inv" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f'"{bucket}","{urllib.parse.quote_plus(k, safe="/")}","{size}","{lm}","etag{i}"\n'
                   for i, (k, size, lm) in enumerate(rows))
    data = b"not gzip at all" if corrupt else gzip.compress(text.encode())
    (data_dir / "part-0.csv.gz").write_bytes(data)
    manifest_dir = folder / bucket / "inv" / "2024-11-25T01-00Z"
    manifest_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"sourceBucket": bucket, "destinationBucket": f"arn:aws:s3:::{destination}", "version": "2016-11-30",
                "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag",
                "files": [{"key": f"{bucket}/inv/data/part-0.csv.gz", "size": len(data),
                           "MD5checksum": hashlib.md5(data).hexdigest()}]}
    (manifest_dir / "manifest.json").write_text(json.dumps(manifest))
    return f"file://{manifest_dir / 'manifest.json'}"


@pytest.fixture
def report_lake(tmp_path):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    make_source("nba", "s3://lake/nba/", {"box": ["box/{game_id}.json"]})
    make_source("other", "s3://elsewhere/", {"x": ["x/{game_id}.json"]})
    rows = [("espn/pbp/1.json", 100, "2024-11-01T10:00:00.000Z"), ("espn/pbp/2 a.json", 5, "2024-11-02T10:00:00.000Z"),
            ("espn/junk.txt", 1, "2024-11-02T10:00:00.000Z"), ("nba/box/9.json", 300, "2024-11-03T10:00:00.000Z"),
            ("logs/x.log", 1, "2024-11-03T10:00:00.000Z")]
    return tmp_path, write_report(tmp_path / "reports", "lake", rows)


def test_inventory_report_scan(report_lake):
    _, manifest = report_lake
    run = scan_run(manifest_uri=manifest)
    assert run.status == RunStatus.COMPLETED and run.mode == ScanMode.INVENTORY_REPORT
    assert run.manifest_uri == manifest
    assert sorted(run.sources) == ["espn", "nba"]  # the report's bucket holds only these
    assert run.locations == ["s3://lake/espn/", "s3://lake/nba/"]
    assert (run.objects_seen, run.matched_count, run.unmatched_count) == (4, 3, 1)
    assert run.stats["outside_locations"] == 1
    inv = inventory("s3://lake")
    assert set(inv) == {"espn/pbp/1.json", "espn/pbp/2 a.json", "espn/junk.txt", "nba/box/9.json"}
    assert inv["espn/pbp/2 a.json"][2] == "2 a"  # URL-decoded key
    obj = StoredObject.objects.get(key="nba/box/9.json")
    assert obj.last_modified == dt.datetime(2024, 11, 3, 10, tzinfo=UTC) and obj.size == 300


def test_inventory_report_replaces_only_its_regions(report_lake):
    tmp_path, manifest = report_lake
    scan_run(manifest_uri=manifest)
    manifest2 = write_report(tmp_path / "reports2", "lake", [("espn/pbp/1.json", 100, "2024-11-01T10:00:00.000Z")])
    run = scan_run(sources=["espn"], manifest_uri=manifest2)
    assert run.sources == ["espn"]
    assert set(inventory("s3://lake")) == {"espn/pbp/1.json", "nba/box/9.json"}


def test_inventory_report_of_another_bucket_fails(report_lake):
    tmp_path, _ = report_lake
    manifest = write_report(tmp_path / "r3", "unrelated", [("a/b.json", 1, "2024-11-01T10:00:00.000Z")])
    with pytest.raises(ScanFailed, match="holds none of the scanned locations"):
        scan_run(manifest_uri=manifest)
    assert ScanRun.objects.get().status == RunStatus.FAILED and StoredObject.objects.count() == 0


def test_corrupt_inventory_report_leaves_inventory_untouched(report_lake):
    tmp_path, manifest = report_lake
    scan_run(manifest_uri=manifest)
    before = inventory()
    bad = write_report(tmp_path / "r4", "lake", [("espn/pbp/3.json", 1, "2024-11-01T10:00:00.000Z")], corrupt=True)
    with pytest.raises(ScanFailed):
        scan_run(manifest_uri=bad)
    assert inventory() == before
    assert ScanRun.objects.order_by("-pk").first().status == RunStatus.FAILED


def test_failed_first_ingest_leaves_an_empty_inventory_with_its_indexes(tmp_path):
    """The first ingest of a report is a bulk load (indexes dropped, rows streamed into the table); a
    data file failing after another one was streamed in must undo all of it."""
    from bench.inventory_writer import write_csv_inventory_report

    from .test_inventory import INDEXES, constraints

    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    when = dt.datetime(2024, 11, 1, 10, tzinfo=UTC)
    rows = [(f"espn/pbp/{i}.json", 100, when, "e") for i in range(30_000)]
    manifest = write_csv_inventory_report(str(tmp_path), source_bucket="lake", rows=rows, rows_per_file=20_000)
    first, second = sorted(tmp_path.rglob("*.csv.gz"))
    good = second.read_bytes()
    second.write_bytes(good[:-10])  # truncated: fails after the first file's 20,000 rows went in
    with pytest.raises(ScanFailed, match=r"lake-2024-01-01T00-00Z-00001\.csv\.gz"):
        scan_run(manifest_uri=manifest)
    assert StoredObject.objects.count() == 0 and constraints() == INDEXES
    assert ScanRun.objects.get().status == RunStatus.FAILED
    second.write_bytes(good)
    run = scan_run(manifest_uri=manifest)
    assert run.stats["inventory"]["bulk_load"] and StoredObject.objects.count() == 30_000
    assert constraints() == INDEXES


def test_inventory_report_sampled(report_lake):
    _, manifest = report_lake
    run = scan_run(manifest_uri=manifest, sample_rate=1.0, seed=0)
    assert run.mode == ScanMode.SAMPLE and run.estimated_objects == 4
    assert StoredObject.objects.count() == 0


def test_inventory_report_on_s3(moto_bucket, tmp_path):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    local = tmp_path / "r"
    write_report(local, "lake", [("espn/pbp/1.json", 100, "2024-11-01T10:00:00.000Z")], destination=moto_bucket.name)
    for path in local.rglob("*"):
        if path.is_file():
            moto_bucket.client.put_object(Bucket=moto_bucket.name, Key=str(path.relative_to(local)), Body=path.read_bytes())
    run = scan_run(manifest_uri=f"s3://{moto_bucket.name}/lake/inv/2024-11-25T01-00Z/manifest.json")
    assert run.status == RunStatus.COMPLETED and run.matched_count == 1
    assert set(inventory("s3://lake")) == {"espn/pbp/1.json"}
