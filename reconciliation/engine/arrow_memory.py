"""Arrow's memory pool for the scan: one that gives freed memory back to the OS.

A scan allocates and frees a few record batches' worth of Arrow memory per data-file block, on
several threads (the CSV reader's, the matcher's, the writer's), millions of objects long. Arrow's
default pool on Linux, mimalloc, keeps freed pages for reuse, and the process's resident memory
ends far above what is live: at 3M objects (SQLite first scan) 439 MB peak with at most ~140 MB of
Arrow allocations live; jemalloc, with Arrow's default decay of 0 ms (freed pages are returned
at once), 321 MB for the same scan; the system allocator (glibc) 605 MB (docs/benchmarks.md §12).
"""
from __future__ import annotations

import pyarrow as pa

POOL = "jemalloc"


def use_returning_pool() -> str:
    """Make jemalloc Arrow's default pool for this process, if this pyarrow has it (Linux wheels do);
    otherwise leave the default. Returns the backend in use. Buffers already allocated stay with
    the pool that allocated them, so switching mid-process is safe."""
    current = pa.default_memory_pool()
    if current.backend_name == POOL:
        return POOL
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc (some platforms' wheels)
        return current.backend_name
    pa.set_memory_pool(pool)
    return pool.backend_name
