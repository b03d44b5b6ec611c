"""CSV data files of S3 Inventory reports (gzipped, no header, columns in fileSchema order, keys
URL-encoded with a space written as "+", every field usually quoted).

Two readers give the same rows and the same errors: pyarrow's C++ reader (the default, ~5x faster)
and the csv module (the reference: it names the line of any row pyarrow's checks reject). Versioned
reports: rows of non-current versions (IsLatest=false) and delete markers (IsDeleteMarker=true) are not
objects and are dropped before any of their fields is judged (a delete marker's Size is empty).
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
from urllib.parse import unquote_plus

from . import inventory_columns as col_names
from .batches import ROW_SCHEMA, batch_from_tuples
from .errors import StorageError
from .inventory_columns import BUCKET as _BUCKET
from .inventory_columns import DELETE_MARKER as _DELETE_MARKER
from .inventory_columns import ETAG as _ETAG
from .inventory_columns import IS_LATEST as _IS_LATEST
from .inventory_columns import KEY as _KEY
from .inventory_columns import LAST_MODIFIED as _LM
from .inventory_columns import SIZE as _SIZE
from .inventory_io import HashingReader, check_integrity, open_data_file

_UTC = dt.timezone.utc
_TS_CACHE_MAX = 200_000
_norm = col_names.norm


def csv_batches(report, data_file, *, arrow: bool = True):
    """ROW_SCHEMA record batches of one CSV data file."""
    if arrow:
        return _csv_batches_arrow(report, data_file)
    return (batch_from_tuples(rows) for rows in _csv_batches(report, data_file))


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


def _csv_batches(report, data_file):
    rows = _csv_rows(report, data_file)
    while True:
        batch = list(itertools.islice(rows, _PY_BATCH))
        if not batch:
            return
        yield batch


def _csv_rows(report, data_file):
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
    raw = HashingReader(open_data_file(report, data_file))
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
        check_integrity(data_file, raw)
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


_ARROW_BLOCK = 8 << 20

def _csv_batches_arrow(report, data_file):
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
    raw = HashingReader(open_data_file(report, data_file))
    source = report.source_bucket
    failed = None
    try:
        try:
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip")
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(column_names=column_names, block_size=_ARROW_BLOCK),
                parse_options=pcsv.ParseOptions(newlines_in_values=False),
                # AWS quotes every field: a delete marker's Size is `""`, which must read as null (and is
                # dropped with its row) where the string columns keep "" as a value.
                convert_options=pcsv.ConvertOptions(column_types=types, include_columns=wanted + extra,
                                                    null_values=[""], strings_can_be_null=False,
                                                    quoted_strings_can_be_null=True),
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
            check_integrity(data_file, raw)
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
