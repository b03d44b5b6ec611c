"""Writers of AWS-shaped S3 Inventory reports, for the tests and bench/make_inventory_report.py (the
product only reads reports: reconciliation.storage.inventory_report): the destination
layout `{prefix}/{source}/{config}/{stamp}/manifest.json` (+ manifest.checksum) and
`{prefix}/{source}/{config}/data/*`, in CSV (gzipped, URL-encoded keys), Parquet or ORC."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import posixpath

_UTC = dt.timezone.utc


def _write_manifest(folder: str, base: str, stamp: str, manifest: dict, checksum: bool) -> str:
    manifest_dir = os.path.join(folder, base, stamp)
    os.makedirs(manifest_dir, exist_ok=True)
    manifest_path = os.path.join(manifest_dir, "manifest.json")
    body = json.dumps(manifest, indent=2).encode()
    with open(manifest_path, "wb") as fh:
        fh.write(body)
    if checksum:  # AWS writes it last: its presence marks the report complete
        with open(os.path.join(manifest_dir, "manifest.checksum"), "w", encoding="ascii") as fh:
            fh.write(hashlib.md5(body, usedforsecurity=False).hexdigest())
    return "file://" + os.path.abspath(manifest_path)


def _file_entry(base: str, name: str, path: str) -> dict:
    with open(path, "rb") as fh:
        md5 = hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
    return {"key": posixpath.join(base, "data", name), "size": os.path.getsize(path), "MD5checksum": md5}


def _base(prefix: str, source_bucket: str, config_id: str) -> str:
    return posixpath.join(prefix, source_bucket, config_id) if prefix else posixpath.join(source_bucket, config_id)


def write_csv_inventory_report(folder: str, *, source_bucket: str, rows, destination_bucket: str = "inventory-dest",
                               prefix: str = "inventory", config_id: str = "daily",
                               stamp: str = "2024-01-01T00-00Z", rows_per_file: int = 250_000,
                               with_version_columns: bool = False, quote_all: bool = False,
                               checksum: bool = True) -> str:
    """Write an AWS-shaped CSV inventory report under `folder` (which plays the destination bucket):
    `{prefix}/{source}/{config}/{stamp}/manifest.json` + `{prefix}/{source}/{config}/data/*.csv.gz`.
    `rows` yields (key, size, last_modified datetime, etag) or, with `with_version_columns`,
    (key, size, last_modified, etag, is_latest, is_delete_marker[, version_id]); a delete marker's Size is
    written empty, as AWS does. `quote_all` quotes every field (AWS does); `checksum` writes
    manifest.checksum. Returns the manifest's file:// URI."""
    from urllib.parse import quote_plus

    base = _base(prefix, source_bucket, config_id)
    data_dir = os.path.join(folder, base, "data")
    os.makedirs(data_dir, exist_ok=True)
    schema = "Bucket, Key, " + ("VersionId, IsLatest, IsDeleteMarker, " if with_version_columns else "") + \
        "Size, LastModifiedDate, ETag, StorageClass"
    files = []
    part = 0
    it = iter(rows)
    done = False
    ts_cache: dict = {}
    while not done:
        name = f"{source_bucket}-{stamp}-{part:05d}.csv.gz"
        path = os.path.join(data_dir, name)
        count = 0
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz, \
                    io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                writer = csv.writer(text, lineterminator="\n",
                                    quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
                out = []
                for row in it:
                    key, size, lm, etag = row[:4]
                    ts = ts_cache.get(lm)
                    if ts is None:
                        ts = lm.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{lm.microsecond // 1000:03d}Z"
                        ts_cache[lm] = ts
                    enc = quote_plus(key, safe="/")
                    if with_version_columns:
                        latest, marker = row[4], row[5]
                        version = row[6] if len(row) > 6 else "v1"
                        out.append((source_bucket, enc, version, "true" if latest else "false",
                                    "true" if marker else "false", "" if marker else size, ts, etag, "STANDARD"))
                    else:
                        out.append((source_bucket, enc, size, ts, etag, "STANDARD"))
                    count += 1
                    if len(out) >= 10_000:
                        writer.writerows(out)
                        out.clear()
                    if count >= rows_per_file:
                        break
                else:
                    done = True
                writer.writerows(out)
        if count == 0 and part > 0:
            os.remove(path)
            break
        files.append(_file_entry(base, name, path))
        part += 1
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1704067200000",
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": files,
    }
    return _write_manifest(folder, base, stamp, manifest, checksum)


_PARQUET_SCHEMA = ("message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
                   "optional binary version_id (STRING); optional boolean is_latest; optional boolean "
                   "is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); "
                   "optional binary e_tag (STRING); optional binary storage_class (STRING);}")
_ORC_SCHEMA = ("struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,"
               "size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string>")


def write_columnar_inventory_report(folder: str, *, source_bucket: str, rows, fmt: str = "Parquet",
                                    destination_bucket: str = "inventory-dest", prefix: str = "inventory",
                                    config_id: str = "daily", stamp: str = "2024-01-01T00-00Z",
                                    rows_per_file: int = 250_000, with_version_columns: bool = False,
                                    checksum: bool = True) -> str:
    """The Parquet or ORC twin of write_csv_inventory_report (same `rows`); keys are written as they
    are (not URL-encoded), a delete marker's size as null, timestamps in milliseconds as AWS does."""
    import pyarrow as pa

    if fmt not in ("Parquet", "ORC"):
        raise ValueError(f"fmt must be Parquet or ORC, not {fmt!r}")
    base = _base(prefix, source_bucket, config_id)
    data_dir = os.path.join(folder, base, "data")
    os.makedirs(data_dir, exist_ok=True)
    ext = "parquet" if fmt == "Parquet" else "orc"
    files, part, it = [], 0, iter(rows)
    while True:
        chunk = [row for _, row in zip(range(rows_per_file), it)]
        if not chunk and part > 0:
            break
        stamp_type = pa.timestamp("ms", tz="UTC") if fmt == "Parquet" else pa.timestamp("ns")
        lms = [r[2].astimezone(_UTC).replace(microsecond=r[2].microsecond // 1000 * 1000) for r in chunk]
        columns = {"bucket": pa.array([source_bucket] * len(chunk), pa.string()),
                   "key": pa.array([r[0] for r in chunk], pa.string())}
        if with_version_columns:
            columns["version_id"] = pa.array([(r[6] if len(r) > 6 else "v1") for r in chunk], pa.string())
            columns["is_latest"] = pa.array([bool(r[4]) for r in chunk], pa.bool_())
            columns["is_delete_marker"] = pa.array([bool(r[5]) for r in chunk], pa.bool_())
            sizes = [None if r[5] else r[1] for r in chunk]
        else:
            sizes = [r[1] for r in chunk]
        columns["size"] = pa.array(sizes, pa.int64())
        columns["last_modified_date"] = pa.array(
            [lm if fmt == "Parquet" else lm.replace(tzinfo=None) for lm in lms], stamp_type)
        columns["e_tag"] = pa.array([r[3] for r in chunk], pa.string())
        columns["storage_class"] = pa.array(["STANDARD"] * len(chunk), pa.string())
        table = pa.table(columns)
        name = f"{source_bucket}-{stamp}-{part:05d}.{ext}"
        path = os.path.join(data_dir, name)
        if fmt == "Parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path, compression="snappy")
        else:
            import pyarrow.orc as orc

            orc.write_table(table, path, compression="zlib")
        files.append(_file_entry(base, name, path))
        part += 1
        if len(chunk) < rows_per_file:
            break
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1704067200000",
        "fileFormat": fmt,
        "fileSchema": _PARQUET_SCHEMA if fmt == "Parquet" else _ORC_SCHEMA,
        "files": files,
    }
    return _write_manifest(folder, base, stamp, manifest, checksum)
