"""S3 Inventory reports: CSV (both readers) and Parquet, from file:// and s3://."""
import datetime as dt
import gzip
import hashlib
import io
import json

import pytest

from reconciliation.storage import LocationError, ObjectInfo, StorageError, read_inventory_report
from reconciliation.storage import inventory_report as ir
from bench.inventory_writer import write_csv_inventory_report

UTC = dt.timezone.utc
SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"
VSCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"


@pytest.fixture(params=["arrow", "python"])
def engine(request, monkeypatch):
    """Every CSV test runs through both readers: they must agree, errors included."""
    monkeypatch.setattr(ir, "ARROW_CSV", request.param == "arrow")
    return request.param


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _write_report(dest, files: dict[str, bytes], *, manifest=None, schema=SCHEMA, fmt="CSV", source="nba-lake",
                  checksums=True):
    """dest/inv/nba-lake/cfg/2024-01-01T00-00Z/manifest.json + dest/inv/nba-lake/cfg/data/<name>."""
    entries = []
    for name, data in files.items():
        key = f"inv/{source}/cfg/data/{name}"
        path = dest / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = {"key": key}
        if checksums:
            entry.update(size=len(data), MD5checksum=hashlib.md5(data).hexdigest())
        entries.append(entry)
    doc = {"sourceBucket": source, "destinationBucket": "arn:aws:s3:::inv-dest", "version": "2016-11-30",
           "creationTimestamp": "1704067200000", "fileFormat": fmt, "fileSchema": schema, "files": entries}
    if manifest is not None:
        doc = manifest(doc)
    mpath = dest / "inv" / source / "cfg" / "2024-01-01T00-00Z" / "manifest.json"
    mpath.parent.mkdir(parents=True, exist_ok=True)
    mpath.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return f"file://{mpath}"


def test_csv_report_decodes_keys_and_types(tmp_path, engine):
    part1 = _gz(
        '"nba-lake","espn_play_by_play/401584689.json","1234","2024-03-01T12:00:00.000Z","abc123","STANDARD"\n'
        '"nba-lake","schedule/a+b%2Bc.json","0","2024-03-02T00:00:01.500Z","","STANDARD"\n'
    )
    part2 = _gz('nba-lake,caf%C3%A9/%E2%9C%93+%28x%29.json,7,2023-12-31T23:59:59Z,e,GLACIER\n')
    uri = _write_report(tmp_path, {"p1.csv.gz": part1, "p2.csv.gz": part2})
    report = read_inventory_report(uri)
    assert report.source_bucket == "nba-lake" and report.store == "s3://nba-lake"
    assert report.destination_bucket == "inv-dest" and report.file_format == "CSV"
    assert report.creation_timestamp == dt.datetime(2024, 1, 1, tzinfo=UTC)
    objs = list(report.objects)
    assert objs == [
        ObjectInfo("espn_play_by_play/401584689.json", 1234, dt.datetime(2024, 3, 1, 12, tzinfo=UTC), "abc123"),
        ObjectInfo("schedule/a b+c.json", 0, dt.datetime(2024, 3, 2, 0, 0, 1, 500000, tzinfo=UTC), ""),
        ObjectInfo("café/✓ (x).json", 7, dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC), "e"),
    ]
    assert all(o.last_modified.tzinfo is UTC for o in objs)
    assert list(report.iter_rows()) == [(o.key, o.size, o.last_modified, o.etag) for o in objs]


def test_delete_markers_and_old_versions_are_skipped(tmp_path, engine):
    data = _gz(
        'nba-lake,a.json,v3,true,false,10,2024-01-03T00:00:00.000Z,e3\n'
        'nba-lake,a.json,v2,false,false,9,2024-01-02T00:00:00.000Z,e2\n'
        'nba-lake,b.json,v9,true,true,,2024-01-05T00:00:00.000Z,\n'
        'nba-lake,b.json,v8,false,false,5,2024-01-01T00:00:00.000Z,e8\n'
        'nba-lake,c.json,v1,TRUE,FALSE,1,2024-01-01T00:00:00.000Z,e1\n'
    )
    report = read_inventory_report(_write_report(tmp_path, {"v.csv.gz": data}, schema=VSCHEMA))
    assert [(o.key, o.size) for o in report.objects] == [("a.json", 10), ("c.json", 1)]


def test_empty_report_is_refused_unless_allowed(tmp_path, engine):
    uri = _write_report(tmp_path, {})
    with pytest.raises(StorageError, match="lists no data file, which would empty the inventory"):
        read_inventory_report(uri)
    report = read_inventory_report(uri, allow_empty=True)
    assert list(report.objects) == []


def test_data_file_resolves_against_nearest_ancestor_holding_it(tmp_path, engine):
    row = 'nba-lake,x.json,1,2024-01-01T00:00:00Z,e,STANDARD\n'
    uri = _write_report(tmp_path / "dest", {"p.csv.gz": _gz(row)})
    report = read_inventory_report(uri)
    assert report.files[0].uri == f"file://{tmp_path}/dest/inv/nba-lake/cfg/data/p.csv.gz"
    # the same key under a nearer ancestor (the manifest's own folder) wins
    nearer = tmp_path / "dest/inv/nba-lake/cfg/2024-01-01T00-00Z/inv/nba-lake/cfg/data/p.csv.gz"
    nearer.parent.mkdir(parents=True)
    nearer.write_bytes(_gz(row))
    assert read_inventory_report(uri).files[0].uri == f"file://{nearer}"


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: [1, 2], "not a JSON object"),
    (lambda d: {**d, "sourceBucket": ""}, "lacks sourceBucket"),
    (lambda d: {k: v for k, v in d.items() if k != "fileSchema"}, "lacks fileSchema"),
    (lambda d: {**d, "fileSchema": "Bucket, Key, LastModifiedDate"}, "fileSchema lacks Size"),
    (lambda d: {**d, "fileSchema": "Bucket, Key, Size, Size, LastModifiedDate"}, "repeats a column"),
    (lambda d: {**d, "fileFormat": "XLSX"}, "unsupported fileFormat 'XLSX'"),
    (lambda d: {**d, "files": "x"}, "lacks the files list"),
    (lambda d: {**d, "files": [{"size": 3}]}, r"files\[0\] has no key"),
    (lambda d: {**d, "files": [{"key": "inv/nope.csv.gz"}]}, "data file inv/nope.csv.gz not found"),
    (lambda d: {**d, "files": [{"key": "../../etc/passwd"}]}, "must be a relative key"),
    (lambda d: {**d, "creationTimestamp": "yesterday"}, "creationTimestamp"),
])
def test_malformed_manifest(tmp_path, mutate, reason):
    uri = _write_report(tmp_path, {"p.csv.gz": _gz("nba-lake,x,1,2024-01-01T00:00:00Z,e,S\n")}, manifest=mutate)
    with pytest.raises(StorageError, match=reason) as info:
        read_inventory_report(uri)
    assert str(info.value).startswith(uri + ": ")


def test_missing_manifest_and_bad_uris(tmp_path):
    with pytest.raises(StorageError, match="manifest does not exist"):
        read_inventory_report(f"file://{tmp_path}/manifest.json")
    # a folder is a configuration folder: it must hold a complete dated report
    for folder in (f"file://{tmp_path}", f"file://{tmp_path}/"):
        with pytest.raises(StorageError, match="no complete inventory report in this folder"):
            read_inventory_report(folder)
    with pytest.raises(StorageError, match="folder does not exist"):
        read_inventory_report(f"file://{tmp_path}/nope/")
    for bad in ("manifest.json", "http://x/manifest.json", "file://rel/manifest.json"):
        with pytest.raises(LocationError):
            read_inventory_report(bad)


GOOD = "nba-lake,ok.json,1,2024-01-01T00:00:00.000Z,e,STANDARD\n"


@pytest.mark.parametrize("bad_line, reason", [
    ("nba-lake,x.json,1,2024-01-01T00:00:00Z\n", "line 3: 4 columns, fileSchema has 6"),
    ("nba-lake,x.json,big,2024-01-01T00:00:00Z,e,S\n", "line 3: invalid Size 'big'"),
    ("nba-lake,x.json,-1,2024-01-01T00:00:00Z,e,S\n", "line 3: invalid Size '-1'"),
    ("nba-lake,x.json,,2024-01-01T00:00:00Z,e,S\n", "line 3: invalid Size ''"),
    ("nba-lake,x.json,1,yesterday,e,S\n", "line 3: invalid LastModifiedDate 'yesterday'"),
    ("other-bucket,x.json,1,2024-01-01T00:00:00Z,e,S\n", "line 3: bucket 'other-bucket' is not the report's"),
    ("nba-lake,,1,2024-01-01T00:00:00Z,e,S\n", "line 3: empty key"),
    ("nba-lake,%FF%FE.json,1,2024-01-01T00:00:00Z,e,S\n", "line 3: key '%FF%FE.json' is not URL-encoded UTF-8"),
])
def test_bad_row_names_file_and_line(tmp_path, engine, bad_line, reason):
    uri = _write_report(tmp_path, {"p.csv.gz": _gz(GOOD + GOOD + bad_line + GOOD)})
    report = read_inventory_report(uri)
    with pytest.raises(StorageError, match=reason) as info:
        list(report.objects)
    assert str(info.value).startswith(report.files[0].uri + ": ")


def test_corrupt_or_replaced_data_file(tmp_path, engine):
    uri = _write_report(tmp_path, {"p.csv.gz": _gz(GOOD)})
    report = read_inventory_report(uri)
    path = report.files[0].uri[len("file://"):]
    with open(path, "wb") as fh:  # same size, other content
        fh.write(_gz(GOOD.replace("ok.json", "no.json")))
    with pytest.raises(StorageError, match="MD5 differs"):
        list(report.objects)
    with open(path, "wb") as fh:
        fh.write(_gz(GOOD)[:-6])  # truncated
    with pytest.raises(StorageError, match=r"p\.csv\.gz: "):
        list(report.objects)
    with open(path, "wb") as fh:
        fh.write(b"not gzip at all")
    with pytest.raises(StorageError, match="p.csv.gz"):
        list(report.objects)


def test_writer_round_trip_with_awkward_keys(tmp_path, engine):
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    keys = ["a b/c+d.json", "ü/ñ,\"q\".json", "100%/x?y=z&w#f", "plain/1.json"]
    rows = [(k, i * 10, when, f"etag{i}") for i, k in enumerate(keys)]
    uri = write_csv_inventory_report(str(tmp_path), source_bucket="src-bkt", rows=iter(rows), rows_per_file=3)
    report = read_inventory_report(uri)
    assert len(report.files) == 2
    assert list(report.iter_rows()) == rows
    assert [len(b) for b in report.iter_batches()] == [3, 1]
    progress = []
    report.progress = progress.append
    list(report.objects)
    assert progress[-1].endswith("file 2/2 read, 4 objects\n")


def _parquet_bytes(rows, *, versions=False):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {
        "bucket": [r[0] for r in rows], "key": [r[1] for r in rows], "size": [r[2] for r in rows],
        "last_modified_date": pa.array([r[3] for r in rows], pa.timestamp("ms")),
        "e_tag": [r[4] for r in rows],
    }
    if versions:
        cols["is_latest"] = [r[5] for r in rows]
        cols["is_delete_marker"] = [r[6] for r in rows]
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def test_parquet_report(tmp_path):
    when = dt.datetime(2024, 2, 3, 4, 5, 6)
    data = _parquet_bytes([
        ("nba-lake", "a b+c.json", 5, when, "e1", True, False),     # parquet keys are not URL-encoded
        ("nba-lake", "old.json", 4, when, "e2", False, False),
        ("nba-lake", "gone.json", None, when, "", True, True),
        ("nba-lake", "ü.json", 3, when, "e3", True, False),
    ], versions=True)
    uri = _write_report(tmp_path, {"p.parquet": data}, fmt="Parquet", schema="message s3.inventory {}")
    objs = list(read_inventory_report(uri).objects)
    assert objs == [ObjectInfo("a b+c.json", 5, when.replace(tzinfo=UTC), "e1"),
                    ObjectInfo("ü.json", 3, when.replace(tzinfo=UTC), "e3")]


def test_parquet_bad_data(tmp_path):
    uri = _write_report(tmp_path, {"p.parquet": b"PAR1 not really"}, fmt="Parquet", schema="x")
    with pytest.raises(StorageError, match="not a readable Parquet file"):
        list(read_inventory_report(uri).objects)
    when = dt.datetime(2024, 2, 3)
    uri = _write_report(tmp_path, {"p.parquet": _parquet_bytes([("other", "k", 1, when, "")])}, fmt="Parquet",
                        schema="x")
    with pytest.raises(StorageError, match="row 1: bucket 'other'"):
        list(read_inventory_report(uri).objects)


def test_s3_report(moto_bucket, engine):
    client = moto_bucket.client
    client.create_bucket(Bucket="inv-dest")
    data = _gz('"nba-lake","espn/a%20b+c.json","12","2024-03-01T12:00:00.000Z","e","STANDARD"\n')
    client.put_object(Bucket="inv-dest", Key="inv/nba-lake/cfg/data/p.csv.gz", Body=data)
    manifest = {"sourceBucket": "nba-lake", "destinationBucket": "arn:aws:s3:::inv-dest", "fileFormat": "CSV",
                "fileSchema": SCHEMA, "files": [{"key": "inv/nba-lake/cfg/data/p.csv.gz", "size": len(data),
                                                  "MD5checksum": hashlib.md5(data).hexdigest()}]}
    # the manifest may live anywhere; data files are read from destinationBucket
    client.put_object(Bucket=moto_bucket.name, Key="m/manifest.json", Body=json.dumps(manifest))
    report = read_inventory_report(f"s3://{moto_bucket.name}/m/manifest.json")
    assert report.files[0].uri == "s3://inv-dest/inv/nba-lake/cfg/data/p.csv.gz"
    assert [(o.key, o.size) for o in report.objects] == [("espn/a b c.json", 12)]

    manifest["files"].append({"key": "inv/nba-lake/cfg/data/missing.csv.gz"})
    client.put_object(Bucket=moto_bucket.name, Key="m2/manifest.json", Body=json.dumps(manifest))
    with pytest.raises(StorageError, match=r"^s3://inv-dest/inv/nba-lake/cfg/data/missing.csv.gz: data file does not exist"):
        read_inventory_report(f"s3://{moto_bucket.name}/m2/manifest.json")
    with pytest.raises(StorageError, match="manifest does not exist"):
        read_inventory_report(f"s3://{moto_bucket.name}/nope/manifest.json")
    with pytest.raises(StorageError, match="bucket does not exist"):
        read_inventory_report("s3://no-such-bucket/manifest.json")


def test_s3_parquet_report_over_http(server_bucket):
    when = dt.datetime(2024, 2, 3, 4, 5, 6)
    data = _parquet_bytes([("nba-lake", "k/1.json", 5, when, "e1")])
    server_bucket.put("data/p.parquet", data)
    manifest = {"sourceBucket": "nba-lake", "destinationBucket": f"arn:aws:s3:::{server_bucket.name}",
                "fileFormat": "Parquet", "fileSchema": "message s3.inventory {}",
                "files": [{"key": "data/p.parquet", "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}]}
    server_bucket.put("manifest.json", json.dumps(manifest))
    report = read_inventory_report(f"s3://{server_bucket.name}/manifest.json")
    assert list(report.objects) == [ObjectInfo("k/1.json", 5, when.replace(tzinfo=UTC), "e1")]


def test_timestamps_with_offsets_or_naive_become_utc(tmp_path, engine):
    data = _gz("nba-lake,a,1,2024-03-01T14:00:00+02:00,e,S\nnba-lake,b,1,2024-03-01T12:00:00,e,S\n")
    objs = list(read_inventory_report(_write_report(tmp_path, {"p.csv.gz": data})).objects)
    assert [o.last_modified for o in objs] == [dt.datetime(2024, 3, 1, 12, tzinfo=UTC)] * 2
    assert all(o.last_modified.tzinfo is UTC for o in objs)


# --- versioned reports, the three formats, manifest.checksum, newest-report discovery (SPEC §12) ---------

from bench.inventory_writer import write_columnar_inventory_report  # noqa: E402
from reconciliation.storage import newest_complete_report  # noqa: E402

T1 = dt.datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
T2 = dt.datetime(2024, 3, 2, 11, 30, tzinfo=UTC)
# (key, size, last_modified, etag, is_latest, is_delete_marker, version_id), as a versioned bucket's
# report lists them: every version of every key, newest first.
VERSIONED_ROWS = [
    ("espn/a b.json", 10, T2, "e-new", True, False, "v2"),
    ("espn/a b.json", 9, T1, "e-old", False, False, "v1"),          # a non-current version
    ("espn/gone+1.json", 0, T2, "", True, True, "v9"),              # deleted: the latest is a marker
    ("espn/gone+1.json", 5, T1, "e5", False, False, "v8"),
    ("espn/a%2Fb.json", 7, T1, "e7", True, False, "v1"),            # a literal "%2F" in the key
    ("espn/café ✓.json", 3, T2, "e3", True, False, "v1"),
    ("espn/old-marker.json", 0, T1, "", False, True, "v3"),         # a non-current delete marker
    ("espn/old-marker.json", 4, T2, "e4", True, False, "v4"),       # ...re-created after it
]
EXPECTED_VERSIONED = [
    ("espn/a b.json", 10, T2, "e-new"),
    ("espn/a%2Fb.json", 7, T1, "e7"),
    ("espn/café ✓.json", 3, T2, "e3"),
    ("espn/old-marker.json", 4, T2, "e4"),
]


def _versioned_report(folder, fmt, **kw):
    if fmt == "CSV":
        return write_csv_inventory_report(str(folder), source_bucket="nba-lake", rows=VERSIONED_ROWS,
                                          with_version_columns=True, quote_all=True, rows_per_file=3, **kw)
    return write_columnar_inventory_report(str(folder), source_bucket="nba-lake", rows=VERSIONED_ROWS, fmt=fmt,
                                           with_version_columns=True, rows_per_file=3, **kw)


def test_versioned_csv_report_as_aws_writes_it(tmp_path, engine):
    uri = _versioned_report(tmp_path, "CSV")
    raw = "".join(gzip.decompress(p.read_bytes()).decode() for p in sorted(tmp_path.rglob("*.csv.gz")))
    # AWS quotes every field and leaves a delete marker's Size empty: the row pyarrow used to refuse
    assert '"nba-lake","espn/gone%2B1.json","v9","true","true","",' in raw
    assert '"espn/a+b.json"' in raw and '"espn/a%252Fb.json"' in raw
    report = read_inventory_report(uri)
    assert report.checksum_verified
    assert list(report.iter_rows()) == EXPECTED_VERSIONED


@pytest.mark.parametrize("fmt", ["Parquet", "ORC"])
def test_versioned_columnar_reports_give_the_csv_inventory(tmp_path, fmt):
    csv_rows = list(read_inventory_report(_versioned_report(tmp_path / "csv", "CSV")).iter_rows())
    report = read_inventory_report(_versioned_report(tmp_path / fmt, fmt))
    assert report.file_format == fmt and len(report.files) == 3
    assert list(report.iter_rows()) == csv_rows == EXPECTED_VERSIONED
    assert all(lm.tzinfo is UTC for _, _, lm, _ in report.iter_rows())


def test_unversioned_orc_report(tmp_path):
    rows = [(k, s, lm, e) for k, s, lm, e, *_ in VERSIONED_ROWS[:2]]
    uri = write_columnar_inventory_report(str(tmp_path), source_bucket="nba-lake", rows=rows, fmt="ORC")
    assert [(k, s) for k, s, _, _ in read_inventory_report(uri).iter_rows()] == [("espn/a b.json", 10),
                                                                                 ("espn/a b.json", 9)]


def _orc_bytes(columns):
    import pyarrow as pa
    import pyarrow.orc as orc

    buf = io.BytesIO()
    orc.write_table(pa.table(columns), buf)
    return buf.getvalue()


@pytest.mark.parametrize("change, reason", [
    ({"size": [1, None, 3]}, "row 2: missing or invalid size None"),
    ({"size": [1, 2, -3]}, "row 3: missing or invalid size -3"),
    ({"bucket": ["nba-lake", "nba-lake", "other"]}, "row 3: bucket 'other' is not the report's"),
    ({"key": ["a", "", "c"]}, "row 2: missing or empty key"),
    ({"size": ["1", "2", "3"]}, "size column is string, not an integer"),
])
def test_orc_bad_rows_name_file_and_row(tmp_path, change, reason):
    import pyarrow as pa

    columns = {"bucket": ["nba-lake"] * 3, "key": ["a", "b", "c"], "size": [1, 2, 3],
               "last_modified_date": pa.array([dt.datetime(2024, 1, 1)] * 3, pa.timestamp("ns")),
               "e_tag": ["x", None, "z"]}
    columns.update(change)
    uri = _write_report(tmp_path, {"p.orc": _orc_bytes(columns)}, fmt="ORC", schema="struct<...>")
    report = read_inventory_report(uri)
    with pytest.raises(StorageError, match=reason) as info:
        list(report.iter_rows())
    assert str(info.value).startswith(report.files[0].uri + ": ")


def test_orc_delete_marker_with_null_size_is_not_an_error(tmp_path):
    import pyarrow as pa

    columns = {"bucket": ["nba-lake"] * 2, "key": ["a", "b"], "is_latest": [True, True],
               "is_delete_marker": [True, False], "size": [None, 2],
               "last_modified_date": pa.array([dt.datetime(2024, 1, 1)] * 2, pa.timestamp("ns")),
               "e_tag": [None, "e"]}
    uri = _write_report(tmp_path, {"p.orc": _orc_bytes(columns)}, fmt="ORC", schema="struct<...>")
    assert [(k, s, e) for k, s, _, e in read_inventory_report(uri).iter_rows()] == [("b", 2, "e")]
    uri = _write_report(tmp_path, {"p.orc": b"ORC but not really"}, fmt="ORC", schema="x")
    with pytest.raises(StorageError, match="not a readable ORC file"):
        list(read_inventory_report(uri).iter_rows())


def test_versioned_csv_row_without_size_names_the_line(tmp_path, engine):
    data = _gz('"nba-lake","a.json","v1","true","false","","2024-01-01T00:00:00.000Z","e"\n')
    uri = _write_report(tmp_path, {"p.csv.gz": data}, schema=VSCHEMA)
    with pytest.raises(StorageError, match=r"p\.csv\.gz: line 1: invalid Size ''"):
        list(read_inventory_report(uri).iter_rows())


def test_manifest_checksum_mismatch_is_an_error_naming_the_file(tmp_path):
    uri = _versioned_report(tmp_path, "CSV")
    checksum = tmp_path / "inventory/nba-lake/daily/2024-01-01T00-00Z/manifest.checksum"
    good = checksum.read_text()
    assert good == hashlib.md5((tmp_path / uri[len("file://") + len(str(tmp_path)) + 1:]).read_bytes()).hexdigest()
    checksum.write_text("0" * 32 + "\n")
    with pytest.raises(StorageError, match=r"manifest\.checksum: MD5 0{32} does not match manifest\.json") as info:
        read_inventory_report(uri)
    assert str(info.value).startswith(f"file://{checksum}: ")
    checksum.write_text("not a checksum")
    with pytest.raises(StorageError, match="not an MD5 checksum"):
        read_inventory_report(uri)
    checksum.write_text(good.upper() + "\n")  # case and a trailing newline do not matter
    assert read_inventory_report(uri).checksum_verified
    checksum.unlink()  # absent: nothing to check
    assert not read_inventory_report(uri).checksum_verified


def _three_reports(dest):
    """2024-01-01 and 2024-01-02 complete; 2024-01-03 still being written (no manifest.checksum)."""
    for day, size in (("01", 1), ("02", 2), ("03", 3)):
        rows = [(f"day{day}.json", size, T1, "e")]
        write_csv_inventory_report(str(dest), source_bucket="nba-lake", rows=rows, stamp=f"2024-01-{day}T00-00Z",
                                   checksum=day != "03", config_id="daily")
    (dest / "inventory/nba-lake/daily/hive/dt=2024-01-03-00-00").mkdir(parents=True)  # AWS's Hive folder


def test_configuration_folder_gives_the_newest_complete_report(tmp_path):
    _three_reports(tmp_path)
    folder = f"file://{tmp_path}/inventory/nba-lake/daily/"
    progress = []
    report = read_inventory_report(folder, progress=progress.append)
    assert report.manifest_uri == f"file://{tmp_path}/inventory/nba-lake/daily/2024-01-02T00-00Z/manifest.json"
    assert [k for k, *_ in report.iter_rows()] == ["day02.json"]
    assert any("2024-01-03T00-00Z/: incomplete report" in line for line in progress)
    assert read_inventory_report(folder.rstrip("/")).manifest_uri == report.manifest_uri
    # a dated folder itself names its own report
    assert newest_complete_report(f"file://{tmp_path}/inventory/nba-lake/daily/2024-01-01T00-00Z/").endswith(
        "2024-01-01T00-00Z/manifest.json")


def test_configuration_folder_on_s3(moto_bucket, tmp_path):
    _three_reports(tmp_path)
    client = moto_bucket.client
    client.create_bucket(Bucket="inventory-dest")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            client.put_object(Bucket="inventory-dest", Key=str(path.relative_to(tmp_path)), Body=path.read_bytes())
    report = read_inventory_report("s3://inventory-dest/inventory/nba-lake/daily/")
    assert report.manifest_uri == "s3://inventory-dest/inventory/nba-lake/daily/2024-01-02T00-00Z/manifest.json"
    assert report.checksum_verified
    assert [k for k, *_ in report.iter_rows()] == ["day02.json"]
    # a checksum that does not match is an error naming it, on S3 as well
    client.put_object(Bucket="inventory-dest", Key="inventory/nba-lake/daily/2024-01-02T00-00Z/manifest.checksum",
                      Body=b"0" * 32)
    with pytest.raises(StorageError, match=r"^s3://inventory-dest/inventory/nba-lake/daily/2024-01-02T00-00Z/"
                                           r"manifest\.checksum: MD5"):
        read_inventory_report("s3://inventory-dest/inventory/nba-lake/daily/")
    with pytest.raises(StorageError, match="no complete inventory report in this folder"):
        read_inventory_report("s3://inventory-dest/inventory/nba-lake/other-config/")
