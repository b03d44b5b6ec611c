"""encode_rows must give exactly PostgreSQL's binary COPY tuples: checked by a reference decoder
here, against the batch's own values, and by PostgreSQL itself."""
import datetime as dt
import struct
import threading
from types import SimpleNamespace

import pyarrow as pa
import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.copy import LibpqWriter

from reconciliation.engine import copy_binary
from reconciliation.engine.copy_binary import HEADER, TRAILER, encode_rows
from reconciliation.engine.inventory_sql import STAGING_SCHEMA

UTC = dt.timezone.utc
PG_EPOCH = dt.datetime(2000, 1, 1)


def decode(data, schema):
    """The rows of binary COPY tuples `data` (no header or trailer), one struct call at a time."""
    data, rows, pos = bytes(data), [], 0
    while pos < len(data):
        (count,), pos = struct.unpack_from(">h", data, pos), pos + 2
        assert count == len(schema)
        row = {}
        for field in schema:
            (size,), pos = struct.unpack_from(">i", data, pos), pos + 4
            if size == -1:
                row[field.name] = None
                continue
            raw, pos = data[pos:pos + size], pos + size
            assert len(raw) == size, "a field runs past the end of the data"
            if pa.types.is_timestamp(field.type):
                (us,) = struct.unpack(">q", raw)
                value = PG_EPOCH + dt.timedelta(microseconds=us)
                row[field.name] = value.replace(tzinfo=UTC) if field.type.tz else value
            elif pa.types.is_int64(field.type):
                (row[field.name],) = struct.unpack(">q", raw)
            else:
                row[field.name] = raw.decode()
        rows.append(row)
    return rows


def assert_round_trips(batch):
    assert decode(encode_rows(batch), batch.schema) == batch.to_pylist()


def staging_batch(rows):
    return pa.RecordBatch.from_pylist(rows, schema=STAGING_SCHEMA)


INT64 = st.integers(-2**63, 2**63 - 1)
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
MOMENTS = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=LAST)
STAGING_ROWS = st.fixed_dictionaries({
    "store": st.text(), "key": st.text(), "size": INT64 | st.none(),
    "last_modified": (MOMENTS.map(lambda m: m.replace(tzinfo=UTC))) | st.none(),
    "etag": st.text() | st.none(), "source_id": INT64 | st.none(), "data_type_id": INT64 | st.none(),
    "partition": st.text(max_size=3) | st.none(), "scan_id": INT64 | st.none(),
})


def test_header_and_trailer_are_postgresqls():
    assert HEADER == b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 and len(HEADER) == 19
    assert TRAILER == b"\xff\xff"


def test_known_bytes():
    schema = pa.schema([("s", pa.string()), ("i", pa.int64()), ("t", pa.timestamp("us", tz="UTC"))])
    batch = pa.RecordBatch.from_pylist([
        {"s": "é", "i": -2, "t": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)},
        {"s": "", "i": None, "t": None},
        {"s": None, "i": 1, "t": dt.datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)},
    ], schema=schema)
    assert bytes(encode_rows(batch)) == (
        b"\x00\x03" b"\x00\x00\x00\x02\xc3\xa9" b"\x00\x00\x00\x08" + struct.pack(">q", -2)
        + b"\x00\x00\x00\x08" + struct.pack(">q", -1_000_000)
        + b"\x00\x03" b"\x00\x00\x00\x00" b"\xff\xff\xff\xff" b"\xff\xff\xff\xff"
        + b"\x00\x03" b"\xff\xff\xff\xff" b"\x00\x00\x00\x08" + struct.pack(">q", 1)
        + b"\x00\x00\x00\x08" + struct.pack(">q", 1)
    )


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(STAGING_ROWS, max_size=30), cut=st.tuples(st.integers(0, 30), st.integers(0, 30)))
def test_staging_batches_and_their_slices_round_trip(rows, cut):
    batch = staging_batch(rows)
    assert_round_trips(batch)
    start, length = cut
    assert_round_trips(batch.slice(start, length))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.text() | st.none(), MOMENTS | st.none(), INT64), min_size=1, max_size=20),
       split=st.integers(0, 20), start=st.integers(0, 20))
def test_other_supported_types_and_chunked_slices(rows, split, start):
    schema = pa.schema([("text", pa.large_string()), ("naive", pa.timestamp("us")), ("n", pa.int64())])
    table = pa.Table.from_batches(
        [pa.RecordBatch.from_pylist([dict(zip(schema.names, r)) for r in part], schema=schema)
         for part in (rows[:split], rows[split:])], schema=schema)
    sliced = table.slice(start)
    for batch in sliced.to_batches() + sliced.combine_chunks().to_batches():
        assert_round_trips(batch)


def test_large_batches_switch_to_64_bit_offsets_with_the_same_bytes(monkeypatch):
    batch = staging_batch([
        {"store": "s3://b/", "key": f"k/{i}", "size": i, "last_modified": dt.datetime(2024, 1, 1, tzinfo=UTC),
         "etag": "e" * i, "source_id": None if i % 2 else i, "data_type_id": i, "partition": "",
         "scan_id": None}
        for i in range(50)
    ]).slice(3)
    small = bytes(encode_rows(batch))
    monkeypatch.setattr(copy_binary, "_BINARY_LIMIT", 0)
    assert bytes(encode_rows(batch)) == small
    assert decode(small, batch.schema) == batch.to_pylist()


def test_values_under_nulls_are_never_read():
    # Arrow leaves them unspecified: here the extremes that would overflow the epoch shift, and
    # string bytes that a null slot spans.
    valid = pa.py_buffer(bytes([0b101]))
    ints = pa.py_buffer(struct.pack("<3q", 5, -2**63, 2**63 - 1))
    moments = pa.py_buffer(struct.pack("<3q", 5, -2**63, 10**15))
    strings = pa.Array.from_buffers(pa.string(), 3, [valid, pa.py_buffer(struct.pack("<4i", 0, 1, 3, 4)),
                                                      pa.py_buffer(b"abcd")])
    batch = pa.record_batch([strings, pa.Array.from_buffers(pa.int64(), 3, [valid, ints]),
                             pa.Array.from_buffers(pa.timestamp("us"), 3, [valid, moments])],
                            names=["s", "i", "t"])
    assert strings.to_pylist() == ["a", None, "d"]
    assert_round_trips(batch)
    assert_round_trips(batch.slice(1))


def test_no_columns_and_no_rows():
    two_rows = pa.record_batch([pa.array([1, 2])], names=["a"]).select([])
    assert bytes(encode_rows(two_rows)) == b"\x00\x00" * 2
    assert bytes(encode_rows(staging_batch([]))) == b""


@pytest.mark.parametrize("array", [
    pa.array([1], pa.int32()), pa.array([1.5]), pa.array([True]), pa.array([b"x"]),
    pa.array([1], pa.timestamp("ns")), pa.array([1], pa.timestamp("ms", tz="UTC")),
    pa.array(["x"]).dictionary_encode(), pa.array([None], pa.null()),
])
def test_other_types_are_refused_even_without_rows(array):
    for batch in (pa.record_batch([array], names=["c"]), pa.record_batch([array], names=["c"]).slice(0, 0)):
        with pytest.raises(TypeError):
            encode_rows(batch)


# --- PostgreSQL itself --------------------------------------------------------------------------

COLUMNS = ("store varchar(255), key text, size bigint, last_modified timestamptz, etag varchar(80), "
           "source_id bigint, data_type_id bigint, partition varchar(64), scan_id bigint")
NAMES = ", ".join(f'"{name}"' for name in STAGING_SCHEMA.names)


def copy_into(cursor, table, names, batches):
    # The scan's opener (header, trailer, its bounded writer thread), one chunk queued at most.
    with copy_binary.binary_copy(cursor.cursor, table, names, depth=1) as copy:
        for batch in batches:
            copy.write(encode_rows(batch))
    assert copy.writer.most_queued <= 1


def tricky_rows():
    big = 2**63 - 1
    return [
        {"store": "s3://lake/", "key": "", "size": 0, "etag": "", "source_id": None, "data_type_id": None,
         "last_modified": dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "partition": "",
         "scan_id": None},
        {"store": "file://", "key": "ключ/🏀/é\t\n\\,\"'", "size": -big - 1, "etag": "a" * 80, "source_id": big,
         "last_modified": dt.datetime(1, 1, 1, tzinfo=UTC), "data_type_id": -1, "partition": "p" * 64,
         "scan_id": -big - 1},
        {"store": "s", "key": "k" * 5000, "size": big, "last_modified": None,
         "etag": None, "source_id": 1, "data_type_id": 2, "partition": None, "scan_id": 3},
        {"store": "s", "key": "x", "size": None, "last_modified": LAST.replace(tzinfo=UTC),
         "etag": "0123456789abcdef", "source_id": None, "data_type_id": 7, "partition": "2024-01-05", "scan_id": 9},
    ] + [
        {"store": "s3://lake/", "key": f"raw/espn/{i:06d}.json", "size": i * 1000,
         "last_modified": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=i * 7919),
         "etag": f"{i:032x}", "source_id": None if i % 7 == 0 else i % 50,
         "data_type_id": None if i % 5 == 0 else i, "partition": f"p{i % 12}",
         "scan_id": None if i % 11 == 0 else 42}
        for i in range(2000)
    ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_reads_the_rows_back_equal():
    rows = tricky_rows()
    batch = staging_batch(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE copy_binary_t ({COLUMNS})")
        # several batches in one COPY, slices among them
        copy_into(cursor, "copy_binary_t", NAMES,
                  [batch.slice(0, 1), batch.slice(1, 1000), batch.slice(1001)])
        cursor.execute(f"SELECT {NAMES} FROM copy_binary_t")
        got = [dict(zip(STAGING_SCHEMA.names, r)) for r in cursor.fetchall()]
    assert len(got) == len(rows)
    assert sorted(got, key=repr) == sorted(rows, key=repr)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_reads_timestamp_without_time_zone_and_large_strings():
    schema = pa.schema([("a", pa.large_string()), ("b", pa.timestamp("us"))])
    rows = [{"a": "ü", "b": dt.datetime(1970, 1, 1, 0, 0, 0, 5)}, {"a": None, "b": None},
            {"a": "", "b": dt.datetime(2000, 1, 1)}]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_binary_n (a text, b timestamp)")
        copy_into(cursor, "copy_binary_n", "a, b", [pa.RecordBatch.from_pylist(rows, schema=schema)])
        cursor.execute("SELECT a, b FROM copy_binary_n")
        assert sorted(cursor.fetchall(), key=repr) == sorted(((r["a"], r["b"]) for r in rows), key=repr)


# --- the writer thread's queue ------------------------------------------------------------------

class _GatedWriter(copy_binary.BoundedWriter):
    """A BoundedWriter whose sending waits for `gate` and records what it sent (no connection)."""

    def __init__(self, depth, gate, fail_on=None):
        super().__init__(SimpleNamespace(connection=SimpleNamespace(pgconn=None)), depth=depth)
        self.gate, self.sent, self.fail_on = gate, [], fail_on

    def _send(self, data):
        self.gate.wait()
        if data == self.fail_on:
            raise OSError("server gone")
        self.sent.append(data)


@pytest.fixture
def no_copy_end(monkeypatch):
    monkeypatch.setattr(LibpqWriter, "finish", lambda self, exc=None: None)


def test_the_writer_queue_never_holds_more_than_its_depth(no_copy_end):
    gate, done = threading.Event(), threading.Event()
    writer = _GatedWriter(2, gate)
    chunks = [bytes([i]) * 10 for i in range(12)]

    def produce():
        for chunk in chunks:
            writer.write(chunk)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    # The sender holds the first chunk and the queue two more: the producer cannot be done (an
    # unbounded queue would have taken all twelve chunks by now).
    assert not done.wait(0.3)
    assert writer.most_queued == 2
    gate.set()
    producer.join()
    writer.finish()
    assert writer.sent == chunks  # in order, every one
    assert writer.most_queued == 2


def test_a_failed_send_is_raised_to_the_writer_without_a_deadlock(no_copy_end):
    gate = threading.Event()
    gate.set()
    writer = _GatedWriter(1, gate, fail_on=b"b")
    with pytest.raises(OSError, match="server gone"):
        for chunk in (b"a", b"b", *[b"c"] * 50):  # the queue is drained after the failure
            writer.write(chunk)
        writer.finish()
    assert writer.sent == [b"a"]
