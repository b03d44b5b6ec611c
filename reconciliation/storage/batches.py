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


def batch_from_columns(keys, sizes, last_modified, etags) -> pa.RecordBatch:
    """Arrays (or lists) in ROW_SCHEMA order → one batch; aware datetimes are converted to UTC."""
    return pa.RecordBatch.from_arrays(
        [pa.array(keys, pa.string()) if not isinstance(keys, pa.Array) else keys,
         pa.array(sizes, pa.int64()) if not isinstance(sizes, pa.Array) else sizes,
         pa.array(last_modified, ROW_SCHEMA.field("last_modified").type)
         if not isinstance(last_modified, pa.Array) else last_modified,
         pa.array(etags, pa.string()) if not isinstance(etags, pa.Array) else etags],
        schema=ROW_SCHEMA)


def batch_from_tuples(rows: list[tuple]) -> pa.RecordBatch:
    """(key, size, last_modified aware datetime, etag) tuples → one batch."""
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=ROW_SCHEMA)
    keys, sizes, lms, etags = zip(*rows)
    return batch_from_columns(list(keys), list(sizes), list(lms), [e or "" for e in etags])


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
    micros = batch.column(2).cast(pa.int64()).to_pylist()
    return list(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), datetimes_from_micros(micros),
                    batch.column(3).to_pylist()))
