"""Produce the next items of an iterator on a thread while the caller consumes the current one.

The scan reads and matches an inventory report in Arrow's C++ kernels, which release the GIL, while
the caller writes the previous batch to the database (sqlite3 releases the GIL inside each statement,
psycopg inside COPY): with both cores busy, a first ingest of a million objects takes ~1 s less.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """The items of `items`, in order, at most `depth` produced ahead of the consumer.

    The first item is produced by the calling thread, so whatever `items` does before its first item
    (database queries, which Django binds to the thread that makes them) happens there; the rest on a
    worker thread. An exception in `items` is raised here, at the position it happened. Leaving the
    loop early (break, an exception, close()) stops the worker before this generator returns."""
    items = iter(items)
    try:
        first = next(items)
    except StopIteration:
        return
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                results.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        yield first
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
