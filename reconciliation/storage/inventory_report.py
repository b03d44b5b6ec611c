"""S3 Inventory reports (manifest.json + data files) read from s3:// or file:// (SPEC §7 `scan`).

Formats (AWS S3 Inventory):
* manifest.json: sourceBucket, destinationBucket ("arn:aws:s3:::name"), fileFormat (CSV | Parquet),
  fileSchema (CSV: "Bucket, Key, Size, LastModifiedDate, ETag, ..."), files[{key, size, MD5checksum}].
* CSV data files: gzipped, no header, columns in fileSchema order, object keys URL-encoded with a space
  written as "+" (so decoded with `unquote_plus`; a literal "+" arrives as "%2B").
* Parquet data files: snake_case columns (bucket, key, size, last_modified_date, e_tag, …); keys are
  NOT URL-encoded there.
Rows of non-current versions (IsLatest=false) and delete markers (IsDeleteMarker=true) are skipped.

Everything wrong is a StorageError naming the manifest or data file (and the line for CSV); a report
is read completely or not at all (the caller must discard what it got before the error).
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import itertools
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .batches import ROW_SCHEMA, batch_from_tuples, tuples_from_batch
from .errors import LocationError, StorageError
from .locations import ObjectInfo

_UTC = dt.timezone.utc
_TS_CACHE_MAX = 200_000

# fileSchema names (CSV) and Parquet column names, normalised: lower-case, no "_" / spaces.
_KEY, _SIZE, _LM, _ETAG, _BUCKET = "key", "size", "lastmodifieddate", "etag", "bucket"
_DELETE_MARKER = ("isdeletemarker", "deletemarker")
_IS_LATEST = "islatest"


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace(" ", "")


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
    file_format: str            # "CSV" | "Parquet"
    file_schema: list[str]      # CSV column names (empty for Parquet)
    files: list[DataFile]
    creation_timestamp: dt.datetime | None = None
    progress: Callable[[str], None] | None = field(default=None, repr=False)
    _client: object = field(default=None, repr=False)

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
                batches = (_csv_batches_arrow(self, data_file) if _use_arrow_csv()
                           else (batch_from_tuples(rows) for rows in _csv_batches(self, data_file)))
            else:
                batches = (batch_from_tuples(rows) for rows in _parquet_rows(self, data_file))
            for batch in batches:
                total += batch.num_rows
                yield batch
            if self.progress is not None:
                self.progress(f"{self.manifest_uri}: file {n}/{len(self.files)} read, {total} objects\n")


# ---------------------------------------------------------------------------------------------- I/O

def _split_object_uri(uri: str) -> tuple[str, str, str]:
    """s3://bucket/key → ("s3", bucket, key); file:///abs/file → ("file", "", "/abs/file")."""
    if not isinstance(uri, str) or "://" not in uri:
        raise LocationError(f"{uri!r}: not a storage URI (expected s3://BUCKET/key or file:///path)")
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise LocationError(f"{uri}: missing bucket name")
        if not key or key.endswith("/"):
            raise LocationError(f"{uri}: expected the URI of a manifest file, not a folder")
        return "s3", bucket, key
    if scheme == "file":
        if not rest.startswith("/"):
            raise LocationError(f"{uri}: file location must be an absolute path (file:///absolute/path)")
        if rest.endswith("/"):
            raise LocationError(f"{uri}: expected the URI of a manifest file, not a folder")
        return "file", "", posixpath.normpath(rest)
    raise LocationError(f"{uri}: unsupported scheme {scheme!r} (expected s3:// or file://)")


def _s3_client(report_or_none=None):
    from .s3 import make_s3_client

    if report_or_none is not None and report_or_none._client is not None:
        return report_or_none._client
    return make_s3_client()


def _s3_fail(uri: str, exc: Exception, what: str) -> StorageError:
    from .s3 import _error_code

    code, msg, status = _error_code(exc)
    if code == "NoSuchBucket":
        return StorageError(f"{uri}: bucket does not exist")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return StorageError(f"{uri}: {what} does not exist")
    if code in ("AccessDenied", "403") or status == 403:
        return StorageError(f"{uri}: access denied ({code or status})")
    return StorageError(f"{uri}: cannot read {what}: {code or type(exc).__name__}: {msg or exc}")


def _read_manifest_bytes(uri: str, scheme: str, bucket: str, key: str, client) -> bytes:
    if scheme == "file":
        try:
            with open(key, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise StorageError(f"{uri}: manifest does not exist") from None
        except IsADirectoryError:
            raise StorageError(f"{uri}: is a folder, not a manifest file") from None
        except OSError as exc:
            raise StorageError(f"{uri}: cannot read manifest: {exc.strerror or exc}") from None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise _s3_fail(uri, exc, "manifest") from exc


class _HashingReader(io.RawIOBase):
    """Counts and MD5-hashes the compressed bytes as gzip pulls them, so the manifest's size and
    MD5checksum are checked without a second pass."""

    def __init__(self, raw):
        self._raw = raw
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.md5.update(data)
        self.size += n
        return n

    def drain(self):
        while True:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                return
            self.md5.update(chunk)
            self.size += len(chunk)

    def close(self):
        try:
            self._raw.close()
        finally:
            super().close()


def _open_data_file(report: InventoryReport, data_file: DataFile):
    scheme, bucket, key = _split_object_uri(data_file.uri)
    if scheme == "file":
        try:
            return open(key, "rb")
        except OSError as exc:
            raise StorageError(f"{data_file.uri}: cannot read data file: {exc.strerror or exc}") from None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _s3_client(report).get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise _s3_fail(data_file.uri, exc, "data file") from exc


def _check_integrity(data_file: DataFile, reader: _HashingReader) -> None:
    reader.drain()
    if data_file.size is not None and reader.size != data_file.size:
        raise StorageError(f"{data_file.uri}: size {reader.size} differs from the manifest's {data_file.size} "
                           "(truncated or replaced data file)")
    if data_file.md5 and reader.md5.hexdigest() != data_file.md5.lower():
        raise StorageError(f"{data_file.uri}: MD5 differs from the manifest's MD5checksum (corrupt data file)")


# ---------------------------------------------------------------------------------------------- rows

def _ts_parser():
    cache: dict[str, dt.datetime] = {}
    fromiso = dt.datetime.fromisoformat

    def parse(value: str) -> dt.datetime:
        got = cache.get(value)
        if got is not None:
            return got
        parsed = fromiso(value)  # 3.11+: accepts "…T21:32:00.000Z"
        parsed = parsed.replace(tzinfo=_UTC) if parsed.tzinfo is None else parsed.astimezone(_UTC)
        if len(cache) >= _TS_CACHE_MAX:
            cache.clear()
        cache[value] = parsed
        return parsed

    return parse


_PY_BATCH = 20_000


def _csv_batches(report: InventoryReport, data_file: DataFile):
    rows = _csv_rows(report, data_file)
    while True:
        batch = list(itertools.islice(rows, _PY_BATCH))
        if not batch:
            return
        yield batch


def _csv_rows(report: InventoryReport, data_file: DataFile):
    names = [_norm(c) for c in report.file_schema]
    ki, si, li = names.index(_KEY), names.index(_SIZE), names.index(_LM)
    ei = names.index(_ETAG) if _ETAG in names else None
    bi = names.index(_BUCKET) if _BUCKET in names else None
    dmi = next((names.index(n) for n in _DELETE_MARKER if n in names), None)
    lti = names.index(_IS_LATEST) if _IS_LATEST in names else None
    ncols = len(names)
    source = report.source_bucket
    parse_ts = _ts_parser()
    uri = data_file.uri
    raw = _HashingReader(_open_data_file(report, data_file))
    line = 0
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
            for line, row in enumerate(csv.reader(text, strict=True), 1):
                if len(row) != ncols:
                    if not row:
                        raise StorageError(f"{uri}: line {line}: empty line")
                    raise StorageError(f"{uri}: line {line}: {len(row)} columns, fileSchema has {ncols}")
                if dmi is not None and row[dmi].lower() == "true":
                    continue
                if lti is not None and row[lti].lower() == "false":
                    continue
                if bi is not None and row[bi] != source:
                    raise StorageError(f"{uri}: line {line}: bucket {row[bi]!r} is not the report's "
                                       f"sourceBucket {source!r}")
                key = row[ki]
                if "%" in key or "+" in key:
                    try:
                        key = unquote_plus(key, errors="strict")
                    except UnicodeDecodeError:
                        raise StorageError(f"{uri}: line {line}: key {row[ki]!r} is not URL-encoded UTF-8") from None
                if not key:
                    raise StorageError(f"{uri}: line {line}: empty key")
                if "\x00" in key:  # "%00": no database can store it, and S3 listings never return it
                    raise StorageError(f"{uri}: line {line}: key {row[ki]!r} contains a NUL character")
                try:
                    size = int(row[si])
                    lm = parse_ts(row[li])
                except ValueError:
                    bad = "Size" if not row[si].lstrip("-").isdigit() else "LastModifiedDate"
                    value = row[si] if bad == "Size" else row[li]
                    raise StorageError(f"{uri}: line {line}: invalid {bad} {value!r}") from None
                if size < 0:
                    raise StorageError(f"{uri}: line {line}: invalid Size {row[si]!r}")
                yield key, size, lm, (row[ei] if ei is not None else "")
        _check_integrity(data_file, raw)
    except StorageError:
        raise
    except UnicodeDecodeError as exc:
        raise StorageError(f"{uri}: line {line + 1}: not UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise StorageError(f"{uri}: line {line + 1}: malformed CSV ({exc})") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise StorageError(f"{uri}: not a readable gzip file after line {line} ({exc})") from None
    except Exception as exc:  # botocore streaming errors and the like: never a partial report
        raise StorageError(f"{uri}: read failed after line {line}: {type(exc).__name__}: {exc}") from None
    finally:
        raw.close()


def _parquet_rows(report: InventoryReport, data_file: DataFile):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise StorageError(f"{report.manifest_uri}: Parquet reports need pyarrow "
                           "(pip install 'adce[parquet]')") from None
    uri = data_file.uri
    raw = _HashingReader(_open_data_file(report, data_file))
    try:
        # Parquet needs random access: take the (compressed, columnar) file into memory.
        buf = io.BytesIO()
        while True:
            chunk = raw.read(1 << 20)
            if not chunk:
                break
            buf.write(chunk)
        _check_integrity(data_file, raw)
        buf.seek(0)
        try:
            pf = pq.ParquetFile(buf)
        except Exception as exc:
            raise StorageError(f"{uri}: not a readable Parquet file ({exc})") from None
        by_norm = {_norm(name): name for name in pf.schema_arrow.names}
        for needed, label in ((_KEY, "key"), (_SIZE, "size"), (_LM, "last_modified_date")):
            if needed not in by_norm:
                raise StorageError(f"{uri}: Parquet file has no {label} column")
        cols = {n: by_norm[n] for n in (_KEY, _SIZE, _LM, _ETAG, _BUCKET, _IS_LATEST, *_DELETE_MARKER) if n in by_norm}
        dm = next((cols[n] for n in _DELETE_MARKER if n in cols), None)
        source = report.source_bucket
        row_base = 0
        for batch in pf.iter_batches(columns=list(dict.fromkeys(cols.values())), batch_size=65536):
            data = batch.to_pydict()
            keys, sizes, lms = data[cols[_KEY]], data[cols[_SIZE]], data[cols[_LM]]
            etags = data[cols[_ETAG]] if _ETAG in cols else None
            buckets = data[cols[_BUCKET]] if _BUCKET in cols else None
            latest = data[cols[_IS_LATEST]] if _IS_LATEST in cols else None
            markers = data[dm] if dm else None
            out = []
            for i, key in enumerate(keys):
                if markers is not None and markers[i]:
                    continue
                if latest is not None and latest[i] is False:
                    continue
                row_no = row_base + i + 1
                if buckets is not None and buckets[i] != source:
                    raise StorageError(f"{uri}: row {row_no}: bucket {buckets[i]!r} is not the report's "
                                       f"sourceBucket {source!r}")
                size, lm = sizes[i], lms[i]
                if not key or size is None or size < 0 or lm is None:
                    raise StorageError(f"{uri}: row {row_no}: missing or invalid key/size/last_modified_date")
                if not isinstance(lm, dt.datetime):
                    raise StorageError(f"{uri}: row {row_no}: last_modified_date is not a timestamp")
                lm = lm.replace(tzinfo=_UTC) if lm.tzinfo is None else lm.astimezone(_UTC)
                out.append((key, int(size), lm, (etags[i] or "") if etags is not None else ""))
            row_base += len(keys)
            if out:
                yield out
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{uri}: read failed: {type(exc).__name__}: {exc}") from None
    finally:
        raw.close()


# CSV through pyarrow's C++ reader (~5x the csv module); the csv-module path is the reference (precise
# line numbers), used to diagnose any row pyarrow rejects (and by tests, with ARROW_CSV off).
ARROW_CSV = True
_ARROW_BLOCK = 8 << 20


def _use_arrow_csv() -> bool:
    return ARROW_CSV


def _csv_batches_arrow(report: InventoryReport, data_file: DataFile):
    """ROW_SCHEMA batches of a CSV data file, validated column-wise in C++; anything the fast checks
    reject is handed to the reference reader, which names the line."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    names = [_norm(c) for c in report.file_schema]
    col = {n: str(i) for i, n in enumerate(names)}  # positional column names: schema names may clash
    wanted = [col[_KEY], col[_SIZE], col[_LM]]
    ei, bi = col.get(_ETAG), col.get(_BUCKET)
    dmi = next((col[n] for n in _DELETE_MARKER if n in col), None)
    lti = col.get(_IS_LATEST)
    extra = [c for c in (ei, bi, dmi, lti) if c is not None]
    column_names = [str(i) for i in range(len(names))]
    types = {c: pa.string() for c in column_names}
    types[col[_SIZE]] = pa.int64()
    uri = data_file.uri
    raw = _HashingReader(_open_data_file(report, data_file))
    source = report.source_bucket
    failed = None
    try:
        try:
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip")
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(column_names=column_names, block_size=_ARROW_BLOCK),
                parse_options=pcsv.ParseOptions(newlines_in_values=False),
                convert_options=pcsv.ConvertOptions(column_types=types, include_columns=wanted + extra,
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            for batch in reader:
                if dmi is not None or lti is not None:
                    keep = None
                    if dmi is not None:
                        keep = pc.invert(pc.equal(pc.utf8_lower(batch.column(dmi)), "true"))
                    if lti is not None:
                        latest = pc.not_equal(pc.utf8_lower(batch.column(lti)), "false")
                        keep = latest if keep is None else pc.and_(keep, latest)
                    batch = batch.filter(keep)
                if not batch.num_rows:
                    continue
                sizes = batch.column(col[_SIZE])
                if sizes.null_count or pc.min(sizes).as_py() < 0:
                    raise _Diagnose("Size")
                if bi is not None and not pc.all(pc.equal(batch.column(bi), source)).as_py():
                    raise _Diagnose("Bucket")
                keys = _decoded_keys(batch.column(col[_KEY]))
                if pc.any(pc.equal(pc.utf8_length(keys), 0)).as_py() or pc.any(pc.match_substring(keys, "\x00")).as_py():
                    raise _Diagnose("Key")
                etags = batch.column(ei) if ei is not None else pa.repeat(pa.scalar("", pa.string()), batch.num_rows)
                yield pa.RecordBatch.from_arrays([keys, sizes, _timestamps(batch.column(col[_LM])), etags],
                                                 schema=ROW_SCHEMA)
            _check_integrity(data_file, raw)
        except StorageError:
            raise
        except (_Diagnose, pa.ArrowInvalid, ValueError) as exc:  # ValueError: dates, URL-decoding
            failed = exc
        except Exception as exc:
            raise StorageError(f"{uri}: read failed: {type(exc).__name__}: {exc}") from None
    finally:
        raw.close()
    if failed is not None:
        # Let the reference reader find the line and say what is wrong with it.
        for _row in _csv_rows(report, data_file):
            pass
        raise StorageError(f"{uri}: malformed inventory data ({failed})")


def _decoded_keys(raw_keys):
    """URL-decoded keys (unquote_plus, strict UTF-8); only the keys with "%" or "+" go through Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.match_substring_regex(raw_keys, r"[%+]")
    if not pc.any(encoded).as_py():
        return raw_keys
    return pa.array([unquote_plus(k, errors="strict") if ("%" in k or "+" in k) else k for k in raw_keys.to_pylist()],
                    pa.string())


# "2024-01-01T21:32:00Z" with up to 6 decimals: what AWS writes; Arrow parses it exactly as
# datetime.fromisoformat does. Anything else goes through fromisoformat itself (naive = UTC).
_PLAIN_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z\z"


def _timestamps(stamps):
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = pa.timestamp("us", tz="UTC")
    if pc.all(pc.match_substring_regex(stamps, _PLAIN_UTC)).as_py():
        return pc.cast(stamps, kind)  # raises ArrowInvalid for an impossible date: then diagnosed
    fromiso, parsed = dt.datetime.fromisoformat, {}
    for value in set(stamps.to_pylist()):
        when = fromiso(value)
        parsed[value] = when.replace(tzinfo=_UTC) if when.tzinfo is None else when.astimezone(_UTC)
    return pa.array([parsed[v] for v in stamps.to_pylist()], kind)


class _Diagnose(Exception):
    pass


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
    """Read and validate `manifest.json`; check every data file exists. Rows stream from `.objects`
    or `.iter_rows()`. Raises StorageError (LocationError for a malformed URI). A manifest listing no
    data file would empty the inventory: refused unless `allow_empty` (the operator says the bucket
    really is empty, `scan --allow-empty-inventory`)."""
    scheme, bucket, key = _split_object_uri(manifest_uri)
    if scheme == "s3" and client is None:
        try:
            client = _s3_client()
        except Exception as exc:
            raise StorageError(f"{manifest_uri}: cannot create S3 client: {exc}") from exc
    raw = _read_manifest_bytes(manifest_uri, scheme, bucket, key, client)
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
    fmt = {"csv": "CSV", "parquet": "Parquet"}.get(file_format.lower())
    if fmt is None:
        raise StorageError(f"{manifest_uri}: unsupported fileFormat {file_format!r} (CSV or Parquet)")
    schema: list[str] = []
    if fmt == "CSV":
        schema = [c.strip() for c in need_str("fileSchema").split(",")]
        names = [_norm(c) for c in schema]
        for needed, label in ((_KEY, "Key"), (_SIZE, "Size"), (_LM, "LastModifiedDate")):
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
                raise _s3_fail(data_uri, exc, "data file") from exc
            files.append(DataFile(fkey, data_uri, size, md5))

    created = None
    ts = manifest.get("creationTimestamp")
    if ts is not None:
        try:
            created = dt.datetime.fromtimestamp(int(ts) / 1000, _UTC)
        except (TypeError, ValueError, OverflowError):
            raise StorageError(f"{manifest_uri}: creationTimestamp {ts!r} is not epoch milliseconds") from None
    return InventoryReport(manifest_uri, source_bucket, dest_bucket, fmt, schema, files, created,
                           progress, client)


# ---------------------------------------------------------------------------------------------- writing

def write_csv_inventory_report(folder: str, *, source_bucket: str, rows, destination_bucket: str = "inventory-dest",
                               prefix: str = "inventory", config_id: str = "daily",
                               stamp: str = "2024-01-01T00-00Z", rows_per_file: int = 250_000,
                               with_version_columns: bool = False) -> str:
    """Write an AWS-shaped CSV inventory report under `folder` (which plays the destination bucket):
    `{prefix}/{source}/{config}/{stamp}/manifest.json` + `{prefix}/{source}/{config}/data/*.csv.gz`.
    `rows` yields (key, size, last_modified datetime, etag) or, with `with_version_columns`,
    (key, size, last_modified, etag, is_latest, is_delete_marker). Returns the manifest's file:// URI.
    Used by tests and bench/make_inventory_report.py."""
    from urllib.parse import quote_plus

    base = posixpath.join(prefix, source_bucket, config_id) if prefix else posixpath.join(source_bucket, config_id)
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
        name = f"{source_bucket}-{part:05d}.csv.gz"
        path = os.path.join(data_dir, name)
        count = 0
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz, \
                    io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                writer = csv.writer(text, lineterminator="\n")
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
                        out.append((source_bucket, enc, "v1", "true" if latest else "false",
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
        with open(path, "rb") as fh:
            md5 = hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
        files.append({"key": posixpath.join(base, "data", name), "size": os.path.getsize(path), "MD5checksum": md5})
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
    manifest_dir = os.path.join(folder, base, stamp)
    os.makedirs(manifest_dir, exist_ok=True)
    manifest_path = os.path.join(manifest_dir, "manifest.json")
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
    return "file://" + os.path.abspath(manifest_path)
