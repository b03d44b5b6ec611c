"""Arrow record batches as PostgreSQL binary COPY data (`COPY ... FROM STDIN (FORMAT binary)`).

It exists because the server's parsing of CSV COPY costs about a second per million staged rows;
binary tuples are taken almost as they are. Encoding is vectorized with pyarrow alone (numpy is not
a dependency of the project): no Python loop runs per row, only per column. It reinterprets buffers
as little-endian ints, as every host we run on (x86-64, arm64) is.

Send `HEADER`, then `encode_rows(batch)` for each batch, then `TRAILER`, with psycopg's
`copy.write()`, which passes block data through untouched (it adds a trailer only in row mode).
"""
from __future__ import annotations

import contextlib
import queue
import struct
import threading

import pyarrow as pa
import pyarrow.compute as pc
from psycopg.copy import LibpqWriter

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)


# Encoded batches (~10-20 MB each at the CSV reader's 8 MB blocks) waiting for the writer thread.
COPY_QUEUE_DEPTH = 2


@contextlib.contextmanager
def binary_copy(cur, table: str, columns: str, *, depth: int = COPY_QUEUE_DEPTH):
    """`COPY table (columns) FROM STDIN (FORMAT binary)` on a psycopg 3 cursor, header and trailer
    written: the caller writes encode_rows(batch) chunks. A writer thread feeds the server while the
    caller goes on reading and matching (the server stores on the other core), at most `depth`
    chunks behind."""
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)", writer=BoundedWriter(cur, depth=depth)) as copy:
        copy.write(HEADER)
        yield copy
        copy.write(TRAILER)


class BoundedWriter(LibpqWriter):
    """psycopg's writer with a thread of its own, like psycopg.copy.QueuedLibpqWriter, but whose queue
    holds at most `depth` of the caller's chunks (whole encoded batches). QueuedLibpqWriter queues up
    to 1,024 slices of 128 kB, each keeping its whole batch alive: ~128 MB of encoded rows whenever the
    server is slower than the scan, as it is during a first load (docs/benchmarks.md §12). Here the
    caller waits instead, which costs nothing while the server is the slower side.

    `most_queued`: the most chunks the queue ever held (its bound, checked by tests)."""

    def __init__(self, cursor, *, depth: int = COPY_QUEUE_DEPTH):
        super().__init__(cursor)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self.most_queued = 0

    def _send(self, data) -> None:
        super().write(data)  # psycopg's own: slices of MAX_BUFFER_SIZE, flushed every FLUSH_THRESHOLD

    def _work(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self._send(data)
        except BaseException as exc:  # raised to the caller at its next write or at finish
            self._error = exc
            while self._queue.get() is not None:  # or the caller would wait on a full queue forever
                pass

    def write(self, data) -> None:
        if self._error is not None:
            raise self._error
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="copy-writer", daemon=True)
            self._worker.start()
        self._queue.put(data)
        self.most_queued = max(self.most_queued, self._queue.qsize())

    def finish(self, exc: BaseException | None = None) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        if self._error is not None:
            raise self._error
        super().finish(exc)


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix µs
_BINARY_LIMIT = 2**31 - 1  # past this a batch's tuples need 64-bit offsets (large_binary)
_UINT = {8: pa.uint8(), 16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}
_LEN8, _LEN_NULL = struct.pack(">i", 8), struct.pack(">i", -1)  # the length words of a number, a NULL


def _const(raw: bytes, n: int) -> pa.Array:
    """`raw` n times, as unsigned ints of its size (faster than pa.repeat)."""
    return pa.Array.from_buffers(_UINT[8 * len(raw)], n, [None, pa.py_buffer(raw * n)])


def _big_endian(ints: pa.Array) -> pa.Array:
    """Unsigned ints whose memory holds the big-endian bytes of `ints` (pyarrow has no byte-swap
    kernel: swap bytes, then 16-bit halves, ...). Values under nulls are kept as they are."""
    width = ints.type.bit_width
    kind, shift = _UINT[width], 8
    u = pa.Array.from_buffers(kind, len(ints), [None, ints.buffers()[1]], offset=ints.offset)
    while shift < width:
        # Keeps the low `shift` bits of every 2*shift-bit group: 0x00FF00FF..., 0x0000FFFF...
        mask = pa.scalar((2**width - 1) // (2 ** (2 * shift) - 1) * (2**shift - 1), kind)
        by = pa.scalar(shift, kind)
        u = pc.bit_wise_or(pc.shift_left(pc.bit_wise_and(u, mask), by),
                           pc.bit_wise_and(pc.shift_right(u, by), mask))
        shift *= 2
    return u


def _interleave(cols: list[pa.Array]) -> pa.Array:
    """cols[0][0], cols[1][0], ..., cols[0][1], ...: a row-major tensor is that, built in C."""
    tensor = pa.RecordBatch.from_arrays(cols, names=[str(i) for i in range(len(cols))]).to_tensor()
    return pa.Array.from_buffers(cols[0].type, len(cols[0]) * len(cols), [None, pa.py_buffer(tensor)])


def _run(pieces: list[tuple[pa.Array, pa.Array | None]], out: pa.DataType) -> pa.Array:
    """Row i is the memory of every piece's row i, in order, leaving a piece out where its validity
    (if it has one) is false: a NULL number has no value bytes. Pieces are `_big_endian` ints; the
    field count is the only 16-bit one, so words are 16-bit in its run and 32-bit in the others."""
    word = min(p.type.bit_width for p, _ in pieces)
    words, keep = [], []
    for p, valid in pieces:
        for shift in range(0, p.type.bit_width, word):
            words.append(pc.cast(pc.shift_right(p, pa.scalar(shift, p.type)) if shift else p,
                                 _UINT[word], safe=False))
            keep.append(valid)
    flat, n, width = _interleave(words), len(pieces[0][0]), len(words) * word // 8
    if all(v is None for v in keep):
        return pa.Array.from_buffers(pa.binary(width), n, [None, flat.buffers()[1]]).cast(out)
    # Dropping the NULLs' words after interleaving costs far less than a join argument per number.
    mask = _interleave([_const(b"\x01", n) if v is None else v.cast(pa.uint8()) for v in keep])
    kept = pc.filter(flat, mask.cast(pa.bool_()))
    off = pa.int64() if out == pa.large_binary() else pa.int32()
    sizes = _const(struct.pack("=q" if off == pa.int64() else "=i", width), n).view(off)
    for p, valid in pieces:
        if valid is not None:
            dropped = pc.multiply(pc.invert(valid).cast(off), pa.scalar(p.type.bit_width // 8, off))
            sizes = pc.subtract(sizes, dropped)
    offsets = pa.concat_arrays([pa.array([0], off), pc.cumulative_sum(sizes)]).buffers()[1]
    return pa.Array.from_buffers(out, n, [None, offsets, kept.buffers()[1]])


def encode_rows(batch: pa.RecordBatch) -> memoryview:
    """Every row of `batch` as binary COPY tuples (no header, no trailer), in column order."""
    n, k = batch.num_rows, batch.num_columns
    # Upper bound of the tuple bytes: field count, a length word per field, 8 bytes per number.
    size = n * (2 + 12 * k) + sum(col.nbytes for col in batch.columns)
    out = pa.binary() if size <= _BINARY_LIMIT else pa.large_binary()
    # Runs of fixed-width pieces (field count, lengths, numbers) become one binary each, and one
    # join lays them out with the strings: its cost is per argument and row, so it gets few.
    pieces, parts = [(_const(struct.pack(">h", k), n), None)], []
    for col in batch.columns:
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            lengths, values = pc.binary_length(col).cast(pa.int32()), col.cast(out)
            if col.null_count:
                lengths, values = pc.fill_null(lengths, -1), pc.fill_null(values, pa.scalar(b"", out))
            parts += [_run(pieces + [(_big_endian(lengths), None)], out), values]
            pieces = []
        elif pa.types.is_int64(t) or (pa.types.is_timestamp(t) and t.unit == "us"):
            ints = col.view(pa.int64())
            if pa.types.is_timestamp(t):  # µs since PostgreSQL's epoch, for timestamp[tz] alike
                ints = pc.subtract_checked(ints, pa.scalar(_PG_EPOCH_US, pa.int64()))
            if col.null_count:
                valid = pc.is_valid(col)
                lengths = pc.if_else(valid, _const(_LEN8, 1)[0], _const(_LEN_NULL, 1)[0])
                pieces += [(lengths, None), (_big_endian(ints), valid)]
            else:
                pieces += [(_const(_LEN8, n), None), (_big_endian(ints), None)]
        else:
            raise TypeError(f"no binary COPY encoding for type {t}")
    if not n:
        return memoryview(b"")
    if pieces:
        parts.append(_run(pieces, out))
    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", out)) if len(parts) > 1 else parts[0]
    _, offsets, data = rows.buffers()
    bounds = pa.Array.from_buffers(pa.int64() if out == pa.large_binary() else pa.int32(),
                                   n + 1, [None, offsets], offset=rows.offset)
    return memoryview(data)[bounds[0].as_py():bounds[n].as_py()]
