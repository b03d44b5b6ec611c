"""S3 Inventory reports (manifest.json + data files) read from s3:// or file:// (SPEC §7 `scan`, §12).

Formats (AWS S3 Inventory):
* manifest.json: sourceBucket, destinationBucket ("arn:aws:s3:::name"), fileFormat (CSV | Parquet | ORC),
  fileSchema (CSV: "Bucket, Key, Size, LastModifiedDate, ETag, ..."; Parquet/ORC: their own schema
  text, not needed), files[{key, size, MD5checksum}].
* manifest.checksum, beside it: the MD5 (hex) of manifest.json. Checked when present; a mismatch is an
  error (a manifest replaced or cut short).
* Data files, one reader per format behind one interface (`InventoryReport.iter_arrow`):
  inventory_csv (gzipped CSV, URL-encoded keys) and inventory_columnar (Parquet, ORC).
* Versioned buckets: only the latest version of a key, when it is not a delete marker, is an object.

A manifest URI may instead name the report's configuration folder
(`s3://DEST/PREFIX/SOURCE-BUCKET/CONFIG-ID/`, or a file:// folder): the newest complete report is taken
(the newest `YYYY-MM-DDTHH-MMZ/` folder holding both manifest.json and manifest.checksum; AWS writes the
checksum last, so a folder without it is still being written and is skipped).

Everything wrong is a StorageError naming the manifest or data file (and the line / row); a report
is read completely or not at all (the caller must discard what it got before the error).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import inventory_columns as cols
from .batches import tuples_from_batch
from .errors import StorageError
from .inventory_columnar import columnar_batches
from .inventory_csv import csv_batches
from .inventory_io import md5_hex, read_small_object, s3_client, s3_fail, split_object_uri
from .locations import ObjectInfo

_UTC = dt.timezone.utc

# CSV through pyarrow's C++ reader (~5x the csv module); the csv-module path is the reference (precise
# line numbers), used to diagnose any row pyarrow rejects (and by tests, with ARROW_CSV off).
ARROW_CSV = True

FORMATS = {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}


@dataclass(frozen=True)
class DataFile:
    key: str          # as written in the manifest
    uri: str          # where it was found: s3://dest/key or file:///abs/path
    size: int | None  # from the manifest (compressed size), checked when reading
    md5: str          # MD5checksum from the manifest ("" = not given), checked when reading


@dataclass
class InventoryReport:
    """A validated manifest; `objects` / `iter_rows()` stream the rows (each call reads the files again)."""

    manifest_uri: str
    source_bucket: str
    destination_bucket: str
    file_format: str            # "CSV" | "Parquet" | "ORC"
    file_schema: list[str]      # CSV column names (empty for Parquet and ORC)
    files: list[DataFile]
    creation_timestamp: dt.datetime | None = None
    progress: Callable[[str], None] | None = field(default=None, repr=False)
    _client: object = field(default=None, repr=False)
    checksum_verified: bool = False   # manifest.checksum was present and matched

    @property
    def store(self) -> str:
        return f"s3://{self.source_bucket}"

    @property
    def objects(self) -> Iterator[ObjectInfo]:
        return (ObjectInfo(k, s, lm, e) for k, s, lm, e in self.iter_rows())

    def iter_rows(self) -> Iterator[tuple[str, int, dt.datetime, str]]:
        """(key, size, last_modified, etag) tuples, no per-row object."""
        return itertools.chain.from_iterable(self.iter_batches())

    def iter_batches(self) -> Iterator[list[tuple[str, int, dt.datetime, str]]]:
        """Lists of up to ~64k (key, size, last_modified, etag) tuples, file by file."""
        return (tuples_from_batch(batch) for batch in self.iter_arrow())

    def iter_arrow(self):
        """The fastest path: Arrow record batches in storage.batches.ROW_SCHEMA, file by file."""
        total = 0
        for n, data_file in enumerate(self.files, 1):
            if self.file_format == "CSV":
                batches = csv_batches(self, data_file, arrow=ARROW_CSV)
            else:
                batches = columnar_batches(self, data_file)
            for batch in batches:
                total += batch.num_rows
                yield batch
            if self.progress is not None:
                self.progress(f"{self.manifest_uri}: file {n}/{len(self.files)} read, {total} objects\n")


# ---------------------------------------------------------------------------------------------- discovery

_REPORT_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")


def _is_folder_uri(scheme: str, key: str) -> bool:
    if scheme == "file":
        return key.endswith("/") or os.path.isdir(key)
    return key == "" or key.endswith("/") or not posixpath.basename(key).lower().endswith(".json")


def _local_children(folder: str) -> list[str]:
    try:
        return [e.name for e in os.scandir(folder) if e.is_dir()]
    except FileNotFoundError:
        raise StorageError(f"file://{folder}: folder does not exist") from None
    except OSError as exc:
        raise StorageError(f"file://{folder}: cannot list: {exc.strerror or exc}") from None


def _s3_children(bucket: str, prefix: str, client) -> list[str]:
    from botocore.exceptions import BotoCoreError, ClientError

    names = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes") or []:
                names.append(cp["Prefix"][len(prefix):].rstrip("/"))
    except (ClientError, BotoCoreError) as exc:
        raise s3_fail(f"s3://{bucket}/{prefix}", exc, "folder") from exc
    return names


def _exists(scheme: str, bucket: str, key: str, client) -> bool:
    if scheme == "file":
        return os.path.isfile(key)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except (ClientError, BotoCoreError) as exc:
        failure = s3_fail(f"s3://{bucket}/{key}", exc, "object")
        if str(failure).endswith("object does not exist"):
            return False
        raise failure from exc


def newest_complete_report(folder_uri: str, *, client=None,
                           progress: Callable[[str], None] | None = None) -> str:
    """The manifest.json URI of the newest complete report under a configuration folder (or the
    folder's own manifest.json when it is a dated report folder itself)."""
    scheme, bucket, key = split_object_uri(folder_uri)
    folder = key if (key.endswith("/") or key == "") else key + "/"
    if scheme == "s3" and client is None:
        client = s3_client()

    def uri_of(k: str) -> str:
        return f"file://{k}" if scheme == "file" else f"s3://{bucket}/{k}"

    if _exists(scheme, bucket, folder + "manifest.json", client):
        return uri_of(folder + "manifest.json")
    children = _local_children(folder) if scheme == "file" else _s3_children(bucket, folder, client)
    dated = sorted((c for c in children if _REPORT_FOLDER.match(c)), reverse=True)
    for name in dated:
        manifest = f"{folder}{name}/manifest.json"
        if _exists(scheme, bucket, manifest, client) and _exists(scheme, bucket, f"{folder}{name}/manifest.checksum", client):
            return uri_of(manifest)
        if progress is not None:
            progress(f"{uri_of(folder + name + '/')}: incomplete report (manifest.json or manifest.checksum "
                     "missing), skipped\n")
    raise StorageError(f"{folder_uri}: no complete inventory report in this folder (expected dated "
                       "YYYY-MM-DDTHH-MMZ/ folders holding manifest.json and manifest.checksum)")


# ---------------------------------------------------------------------------------------------- manifest

def _resolve_local(manifest_path: str, key: str) -> str | None:
    """The nearest ancestor folder of the manifest under which `key` exists plays the destination bucket."""
    folder = posixpath.dirname(manifest_path)
    while True:
        candidate = posixpath.join(folder, key)
        if os.path.isfile(candidate):
            return candidate
        if folder == "/":
            return None
        folder = posixpath.dirname(folder)


def read_inventory_report(manifest_uri: str, *, progress: Callable[[str], None] | None = None,
                          client=None, allow_empty: bool = False) -> InventoryReport:
    """Read and validate `manifest.json` (and manifest.checksum when present); check every data file
    exists. `manifest_uri` may name a configuration folder: its newest complete report is read. Rows
    stream from `.objects`, `.iter_rows()` or `.iter_arrow()`. Raises StorageError (LocationError for a
    malformed URI). A manifest listing no data file would empty the inventory: refused unless
    `allow_empty` (the operator says the bucket really is empty, `scan --allow-empty-inventory`)."""
    scheme, bucket, key = split_object_uri(manifest_uri)
    if scheme == "s3" and client is None:
        try:
            client = s3_client()
        except Exception as exc:
            raise StorageError(f"{manifest_uri}: cannot create S3 client: {exc}") from exc
    if _is_folder_uri(scheme, key):
        folder_uri = manifest_uri
        manifest_uri = newest_complete_report(folder_uri, client=client, progress=progress)
        if progress is not None:
            progress(f"{folder_uri}: newest complete report is {manifest_uri}\n")
        scheme, bucket, key = split_object_uri(manifest_uri)
    raw = read_small_object(manifest_uri, scheme, bucket, key, client)
    checksum_verified = _verify_checksum(manifest_uri, scheme, bucket, key, client, raw)
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StorageError(f"{manifest_uri}: manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise StorageError(f"{manifest_uri}: manifest is not a JSON object")

    def need_str(name: str) -> str:
        value = manifest.get(name)
        if not isinstance(value, str) or not value.strip():
            raise StorageError(f"{manifest_uri}: manifest lacks {name}")
        return value.strip()

    source_bucket = need_str("sourceBucket")
    file_format = need_str("fileFormat")
    fmt = FORMATS.get(file_format.lower())
    if fmt is None:
        raise StorageError(f"{manifest_uri}: unsupported fileFormat {file_format!r} (CSV, Parquet or ORC)")
    schema: list[str] = []
    if fmt == "CSV":
        schema = [c.strip() for c in need_str("fileSchema").split(",")]
        names = [cols.norm(c) for c in schema]
        for needed, label in ((cols.KEY, "Key"), (cols.SIZE, "Size"), (cols.LAST_MODIFIED, "LastModifiedDate")):
            if needed not in names:
                raise StorageError(f"{manifest_uri}: fileSchema lacks {label} (needed to judge objects)")
        if len(set(names)) != len(names):
            raise StorageError(f"{manifest_uri}: fileSchema repeats a column")
    destination = manifest.get("destinationBucket") or ""
    if not isinstance(destination, str):
        raise StorageError(f"{manifest_uri}: destinationBucket is not a string")
    destination = destination.strip()
    if destination.startswith("arn:"):
        destination = destination.rsplit(":", 1)[-1]
    files_raw = manifest.get("files")
    if not isinstance(files_raw, list):
        raise StorageError(f"{manifest_uri}: manifest lacks the files list")
    if not files_raw and not allow_empty:
        raise StorageError(f"{manifest_uri}: the manifest lists no data file, which would empty the inventory; "
                           "refused (if the bucket really is empty, scan again with --allow-empty-inventory)")

    dest_bucket = destination or bucket
    files: list[DataFile] = []
    for i, entry in enumerate(files_raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"].strip():
            raise StorageError(f"{manifest_uri}: files[{i}] has no key")
        fkey = entry["key"].strip()
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise StorageError(f"{manifest_uri}: files[{i}].size is not a byte count")
        md5 = entry.get("MD5checksum") or ""
        if not isinstance(md5, str):
            raise StorageError(f"{manifest_uri}: files[{i}].MD5checksum is not a string")
        if scheme == "file":
            if fkey.startswith("/") or ".." in fkey.split("/"):
                raise StorageError(f"{manifest_uri}: files[{i}].key {fkey!r} must be a relative key")
            path = _resolve_local(key, fkey)
            if path is None:
                raise StorageError(f"{manifest_uri}: data file {fkey} not found under any folder "
                                   "containing the manifest")
            files.append(DataFile(fkey, f"file://{path}", size, md5))
        else:
            if not dest_bucket:
                raise StorageError(f"{manifest_uri}: manifest lacks destinationBucket")
            data_uri = f"s3://{dest_bucket}/{fkey}"
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                client.head_object(Bucket=dest_bucket, Key=fkey)
            except (ClientError, BotoCoreError) as exc:
                raise s3_fail(data_uri, exc, "data file") from exc
            files.append(DataFile(fkey, data_uri, size, md5))

    created = None
    ts = manifest.get("creationTimestamp")
    if ts is not None:
        try:
            created = dt.datetime.fromtimestamp(int(ts) / 1000, _UTC)
        except (TypeError, ValueError, OverflowError):
            raise StorageError(f"{manifest_uri}: creationTimestamp {ts!r} is not epoch milliseconds") from None
    return InventoryReport(manifest_uri, source_bucket, dest_bucket, fmt, schema, files, created,
                           progress, client, checksum_verified)


def _verify_checksum(manifest_uri: str, scheme: str, bucket: str, key: str, client, raw: bytes) -> bool:
    """manifest.checksum (the MD5 of manifest.json, hex) beside the manifest: True when it matches,
    False when there is none; a mismatch is an error naming the checksum file."""
    checksum_key = posixpath.join(posixpath.dirname(key), "manifest.checksum")
    checksum_uri = f"file://{checksum_key}" if scheme == "file" else f"s3://{bucket}/{checksum_key}"
    data = read_small_object(checksum_uri, scheme, bucket, checksum_key, client, "manifest.checksum",
                             missing_ok=True)
    if data is None:
        return False
    try:
        expected = data.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        raise StorageError(f"{checksum_uri}: not an MD5 checksum (not ASCII)") from None
    if not re.fullmatch(r"[0-9a-f]{32}", expected):
        raise StorageError(f"{checksum_uri}: not an MD5 checksum ({expected[:40]!r})")
    actual = md5_hex(raw)
    if actual != expected:
        raise StorageError(f"{checksum_uri}: MD5 {expected} does not match manifest.json (MD5 {actual}): "
                           "the manifest was replaced or cut short")
    return True

