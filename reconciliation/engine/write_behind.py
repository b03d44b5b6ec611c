"""Write-behind for a SQLite bulk load: the disk writes while the load still computes.

A first ingest of a million objects writes ~240 MB of new pages twice: into the WAL (pages spill
there while rows go in and indexes are built) and, at the commit's checkpoint, into the database file,
with an fsync after each. The kernel holds all of it as dirty page cache until those fsyncs (it starts
writing back on its own only past ~10 % of memory or after 30 s), so the commit waited for the whole
WAL to reach the disk: 0.8–1.5 s on this machine's ~460 MB/s disk. A helper thread that calls
`fdatasync` on the database's own open files every `interval` seconds makes the disk write those
pages while the load's thread goes on inserting and sorting, so the checkpoint's fsync finds little
left to do (the same idea as PostgreSQL's `checkpoint_flush_after`; measured in docs/benchmarks.md).

What it never does: write, open or close any of SQLite's files. It finds the descriptors SQLite
already holds through /proc/self/fd — closing a descriptor of our own for the database file would drop
the process's POSIX locks on it, SQLite's included. `fdatasync` only makes data durable sooner; it
changes nothing SQLite or a reader sees. Where /proc/self/fd does not exist (not Linux) or the database
is in memory, it does nothing.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

FD_DIR = "/proc/self/fd"
# fdatasync writes the data without the file's metadata; macOS has no os.fdatasync (and no /proc/self/fd,
# so nothing runs there), but importing this module must not fail on it.
_SYNC = getattr(os, "fdatasync", os.fsync)
INTERVAL = 0.2  # seconds; 0.1 and 0.2 measured the same, 0.2 makes half the calls


def sqlite_files(database: str) -> tuple[str, ...]:
    """The files a SQLite database at `database` writes during a transaction: the file and its WAL.
    () for an in-memory database (":memory:", "file::memory:…", "file:…?mode=memory…") or no name."""
    name = str(database or "")
    if not name or name == ":memory:" or (name.startswith("file:") and ("mode=memory" in name or name[5:].startswith(":memory:"))):
        return ()
    if name.startswith("file:"):
        name = name[5:].split("?", 1)[0]
    path = os.path.realpath(name)
    return (path, path + "-wal")


def descriptors_of(paths: Iterable[str], fd_dir: str = FD_DIR) -> list[int]:
    """This process's open descriptors of these files (from /proc/self/fd); [] where there is none."""
    wanted = set(paths)
    found = []
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return []
    for name in names:
        try:
            if os.readlink(os.path.join(fd_dir, name)) in wanted:
                found.append(int(name))
        except (OSError, ValueError):  # closed meanwhile, or not a descriptor entry
            continue
    return found


class WriteBehind:
    """`with WriteBehind(paths): …` — flush these files' dirty pages to disk every `interval` seconds
    on a daemon thread for the duration of the block. `sync` is os.fdatasync (injectable for tests)."""

    def __init__(self, paths: Iterable[str], *, interval: float = INTERVAL, fd_dir: str = FD_DIR,
                 sync: Callable[[int], None] = _SYNC):
        self.paths = tuple(paths)
        self.interval = interval
        self.fd_dir = fd_dir
        self.sync = sync
        self.flushes = 0  # rounds done (descriptors found and flushed), for tests and diagnostics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.paths) and os.path.isdir(self.fd_dir)

    def flush_once(self) -> int:
        """One round: fdatasync every open descriptor of the files. Returns how many were flushed."""
        done = 0
        for fd in descriptors_of(self.paths, self.fd_dir):
            try:
                self.sync(fd)
                done += 1
            except OSError:  # closed (or reused by a file that cannot sync) since it was found: harmless
                continue
        if done:
            self.flushes += 1
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush_once()

    def start(self) -> WriteBehind:
        """Start the thread (nothing when disabled); pair with stop()."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="adce-write-behind", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> WriteBehind:
        return self.start()

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

    def stop(self) -> None:
        """End the thread (waits for a round in progress); idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
