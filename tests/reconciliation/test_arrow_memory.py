"""The scan's Arrow memory pool gives freed memory back to the OS (reconciliation.engine.arrow_memory)."""
import pyarrow as pa
import pytest

from reconciliation.engine.arrow_memory import use_returning_pool


@pytest.fixture
def default_pool():
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _has_jemalloc() -> bool:
    return "jemalloc" in pa.supported_memory_backends()


def test_the_scan_uses_jemalloc_where_pyarrow_has_it(default_pool):
    pa.set_memory_pool(pa.system_memory_pool())
    used = use_returning_pool()
    assert used == pa.default_memory_pool().backend_name
    assert used == ("jemalloc" if _has_jemalloc() else "system")
    assert use_returning_pool() == used  # idempotent


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc")
def test_buffers_of_the_previous_pool_stay_valid(default_pool):
    pa.set_memory_pool(pa.mimalloc_memory_pool() if "mimalloc" in pa.supported_memory_backends() else pa.system_memory_pool())
    before = pa.array([f"key/{i}" for i in range(10_000)])
    use_returning_pool()
    after = pa.concat_arrays([before, pa.array(["x"])])
    del before
    assert after[9_999].as_py() == "key/9999" and after[10_000].as_py() == "x"
    assert pa.default_memory_pool().bytes_allocated() > 0  # the new array's, from jemalloc


def test_a_scan_switches_to_the_returning_pool(default_pool, monkeypatch):
    from reconciliation.services import scan_stream

    calls = []
    monkeypatch.setattr(scan_stream, "use_returning_pool", lambda: calls.append(1) or "jemalloc")
    monkeypatch.setattr(scan_stream._MatchContext, "load", classmethod(lambda cls, *a: (_ for _ in ()).throw(RuntimeError("stop"))))
    with pytest.raises(RuntimeError, match="stop"):
        next(scan_stream.iter_batches(object(), None, scan_id=None, totals=scan_stream.ScanTotals(targets=[])))
    assert calls == [1]
