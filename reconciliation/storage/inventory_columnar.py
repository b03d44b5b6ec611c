"""Parquet and ORC data files of S3 Inventory reports, read column-wise with pyarrow.

AWS writes both with snake_case fields (bucket, key, version_id, is_latest, is_delete_marker, size,
last_modified_date, e_tag, …); keys are NOT URL-encoded there (only CSV encodes them). The two formats
differ only in how the file is opened: the rows go through the same vectorised checks and come out as
storage.batches.ROW_SCHEMA batches, like the CSV reader's.

Versioned reports: rows of non-current versions (is_latest false) and delete markers (is_delete_marker
true) are dropped before anything else is judged (a delete marker has no size). A null is_latest counts
as latest, a null is_delete_marker as not a marker (an unversioned bucket's report may carry the fields).
Errors name the data file and the 1-based row.
"""
from __future__ import annotations

import io

from . import inventory_columns as cols
from .batches import ROW_SCHEMA
from .errors import StorageError
from .inventory_io import read_whole_data_file

_BATCH_ROWS = 65_536


def _parquet_batches(data: bytes, uri: str, wanted):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
    except Exception as exc:
        raise StorageError(f"{uri}: not a readable Parquet file ({exc})") from None
    names = wanted(pf.schema_arrow.names)
    return pf.iter_batches(columns=names, batch_size=_BATCH_ROWS)


def _orc_batches(data: bytes, uri: str, wanted):
    try:
        import pyarrow.orc as orc
    except ImportError:
        raise StorageError(f"{uri}: this pyarrow was built without ORC support") from None
    try:
        of = orc.ORCFile(io.BytesIO(data))
        names = wanted(of.schema.names)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{uri}: not a readable ORC file ({exc})") from None

    def stripes():
        for i in range(of.nstripes):
            stripe = of.read_stripe(i, columns=names)  # a RecordBatch
            for offset in range(0, stripe.num_rows, _BATCH_ROWS):
                yield stripe.slice(offset, _BATCH_ROWS)

    return stripes()


_OPENERS = {"Parquet": _parquet_batches, "ORC": _orc_batches}


def columnar_batches(report, data_file):
    """ROW_SCHEMA record batches of one Parquet or ORC data file."""
    uri = data_file.uri
    opener = _OPENERS[report.file_format]
    data = read_whole_data_file(report, data_file)
    picked: dict[str, str] = {}

    def wanted(names):
        by_norm = {cols.norm(name): name for name in names}
        for needed, label in ((cols.KEY, "key"), (cols.SIZE, "size"), (cols.LAST_MODIFIED, "last_modified_date")):
            if needed not in by_norm:
                raise StorageError(f"{uri}: {report.file_format} file has no {label} column")
        for n in (cols.KEY, cols.SIZE, cols.LAST_MODIFIED, cols.ETAG, cols.BUCKET, cols.IS_LATEST, *cols.DELETE_MARKER):
            if n in by_norm:
                picked.setdefault("deletemarker" if n in cols.DELETE_MARKER else n, by_norm[n])
        return list(dict.fromkeys(picked.values()))

    row_base = 0
    try:
        for batch in opener(data, uri, wanted):
            n = batch.num_rows
            out = _judge(batch, picked, report.source_bucket, uri, row_base)
            row_base += n
            if out is not None and out.num_rows:
                yield out
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{uri}: read failed after row {row_base}: {type(exc).__name__}: {exc}") from None


def _first(mask) -> int:
    """Index of the first true value of a boolean array (nulls count as false)."""
    import pyarrow.compute as pc

    return pc.index(pc.fill_null(mask, False), True).as_py()


def _judge(batch, picked: dict[str, str], source: str, uri: str, row_base: int):
    """Drop non-objects, validate what remains (vectorised), return a ROW_SCHEMA batch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = {n: batch.column(batch.schema.get_field_index(name)) for n, name in picked.items()}
    row_no = pa.array(range(row_base + 1, row_base + batch.num_rows + 1), pa.int64())
    keep = None
    if "deletemarker" in column:
        keep = pc.invert(pc.fill_null(_as_bool(column["deletemarker"], uri, "is_delete_marker"), False))
    if cols.IS_LATEST in column:
        latest = pc.fill_null(_as_bool(column[cols.IS_LATEST], uri, "is_latest"), True)
        keep = latest if keep is None else pc.and_(keep, latest)
    if keep is not None:
        column = {n: c.filter(keep) for n, c in column.items()}
        row_no = row_no.filter(keep)
    if not len(row_no):
        return None

    def fail(mask, what):
        i = _first(mask)
        if i >= 0:
            raise StorageError(f"{uri}: row {row_no[i].as_py()}: {what(i)}")

    if cols.BUCKET in column:
        buckets = column[cols.BUCKET]
        fail(pc.invert(pc.fill_null(pc.equal(buckets, source), False)),
             lambda i: f"bucket {buckets[i].as_py()!r} is not the report's sourceBucket {source!r}")
    keys = column[cols.KEY]
    if not pa.types.is_string(keys.type) and not pa.types.is_large_string(keys.type):
        raise StorageError(f"{uri}: key column is {keys.type}, not a string")
    keys = keys.cast(pa.string())
    fail(pc.or_(pc.is_null(keys), pc.equal(pc.utf8_length(keys), 0)), lambda i: "missing or empty key")
    fail(pc.match_substring(keys, "\x00"), lambda i: f"key {keys[i].as_py()!r} contains a NUL character")
    sizes = column[cols.SIZE]
    if not pa.types.is_integer(sizes.type):
        raise StorageError(f"{uri}: size column is {sizes.type}, not an integer")
    sizes = sizes.cast(pa.int64())
    fail(pc.or_(pc.is_null(sizes), pc.less(pc.fill_null(sizes, 0), 0)),
         lambda i: f"missing or invalid size {sizes[i].as_py()!r}")
    stamps = column[cols.LAST_MODIFIED]
    fail(pc.is_null(stamps), lambda i: "missing last_modified_date")
    stamps = _utc_micros(stamps, uri)
    etags = column.get(cols.ETAG)
    etags = pc.fill_null(etags.cast(pa.string()), "") if etags is not None else \
        pa.repeat(pa.scalar("", pa.string()), len(keys))
    return pa.RecordBatch.from_arrays([keys, sizes, stamps, etags], schema=ROW_SCHEMA)


def _as_bool(values, uri: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(values.type):
        return values
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):  # "true"/"false" as text
        return pc.equal(pc.utf8_lower(values), "true")
    raise StorageError(f"{uri}: {name} column is {values.type}, not a boolean")


def _utc_micros(stamps, uri: str):
    """Timestamps (any unit, naive = UTC) or ISO strings → timestamp[us, UTC]."""
    import pyarrow as pa

    kind = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(stamps.type):
        if stamps.type.tz is None:
            stamps = stamps.cast(pa.timestamp(stamps.type.unit, tz="UTC"))
        return stamps.cast(kind, safe=False)  # ns → us truncates, as datetime does
    if pa.types.is_string(stamps.type) or pa.types.is_large_string(stamps.type):
        from .inventory_csv import _timestamps

        try:
            return _timestamps(stamps.cast(pa.string()))
        except (ValueError, pa.ArrowInvalid) as exc:
            raise StorageError(f"{uri}: last_modified_date holds a value that is not a timestamp ({exc})") from None
    raise StorageError(f"{uri}: last_modified_date column is {stamps.type}, not a timestamp")
