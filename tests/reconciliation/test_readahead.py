"""read_ahead: the same items in the same order, errors where they happened, no worker left behind."""
from __future__ import annotations

import threading

import pytest

from reconciliation.engine.readahead import read_ahead


def test_same_items_in_order():
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_empty_and_single():
    assert list(read_ahead(iter([]))) == []
    assert list(read_ahead(iter(["only"]))) == ["only"]


def test_first_item_is_produced_by_the_calling_thread_the_rest_by_the_worker():
    threads = []

    def items():
        for i in range(4):
            threads.append(threading.current_thread())
            yield i

    assert list(read_ahead(items())) == [0, 1, 2, 3]
    assert threads[0] is threading.current_thread()
    assert all(t is not threading.current_thread() for t in threads[1:])


def test_an_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("broken report")

    got = []
    with pytest.raises(ValueError, match="broken report"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_worker_and_closes_the_source():
    produced, closed = [], threading.Event()

    def items():
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    gen = read_ahead(items(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # what a consumer's break or exception does
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert len(produced) <= 3 + 2 + 1  # consumed + the queue's depth + the one being put
