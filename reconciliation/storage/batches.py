"""Objects as Arrow record batches: the unit a scan reads, matches and writes a million objects in.

ROW_SCHEMA is the shape every storage reader produces: key (full key in its store), size (bytes),
last_modified (UTC, microseconds) and etag ("" when unknown). Listings, which arrive object by
object, are gathered into batches with `batch_from_tuples`; `tuples_from_batch` goes back to
(key, size, aware datetime, etag) tuples for the code that judges objects one at a time.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import pyarrow as pa

ROW_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("size", pa.int64(), nullable=False),
    pa.field("last_modified", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("etag", pa.string(), nullable=False),
])
BATCH_ROWS = 65_536
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def batch_from_tuples(rows, schema: pa.Schema = ROW_SCHEMA) -> pa.RecordBatch:
    """Tuples in the schema's column order → one batch (aware datetimes are converted to UTC). For
    ROW_SCHEMA a missing etag (None) becomes ""."""
    columns = [list(col) for col in zip(*rows)] if rows else [[] for _ in schema]
    if schema is ROW_SCHEMA:
        columns[3] = [e or "" for e in columns[3]]
    return pa.RecordBatch.from_arrays([pa.array(col, f.type) for col, f in zip(columns, schema)], schema=schema)


def batches_from_tuples(rows: Iterable[tuple], size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield batch_from_tuples(chunk)
            chunk = []
    if chunk:
        yield batch_from_tuples(chunk)


def datetimes_from_micros(micros: list[int]) -> list[dt.datetime]:
    """Microseconds since the epoch → aware UTC datetimes (datetime.timezone.utc, as the listers give),
    one object per distinct value. (pyarrow's own conversion goes through zoneinfo: ~10x slower.)"""
    cache: dict[int, dt.datetime] = {}
    out = []
    delta = dt.timedelta
    for us in micros:
        when = cache.get(us)
        if when is None:
            when = cache[us] = _EPOCH + delta(microseconds=us)
        out.append(when)
    return out


def tuples_from_batch(batch: pa.RecordBatch) -> list[tuple]:
    """Rows of any batch as tuples; timestamp columns as aware UTC datetimes."""
    columns = [datetimes_from_micros(c.cast(pa.int64()).to_pylist()) if pa.types.is_timestamp(c.type)
               else c.to_pylist() for c in batch.columns]
    return list(zip(*columns))
