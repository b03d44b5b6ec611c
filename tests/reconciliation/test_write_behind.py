"""Write-behind of a SQLite bulk load: which files, which descriptors, the thread's lifecycle."""
from __future__ import annotations

import os
import threading

import pytest

from reconciliation.engine.write_behind import WriteBehind, descriptors_of, sqlite_files

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds descriptors through /proc/self/fd (Linux)")


@pytest.mark.parametrize("name", ["", None, ":memory:", "file::memory:", "file:memorydb_default?mode=memory&cache=shared"])
def test_an_in_memory_database_has_no_files(name):
    assert sqlite_files(name) == ()


def test_a_database_file_and_its_wal(tmp_path):
    db = tmp_path / "adce.sqlite3"
    assert sqlite_files(str(db)) == (str(db), f"{db}-wal")
    assert sqlite_files(f"file:{db}?mode=rwc") == (str(db), f"{db}-wal")
    # a relative name or a symlink resolves to the path /proc/self/fd shows
    link = tmp_path / "link.sqlite3"
    link.symlink_to(db)
    assert sqlite_files(str(link))[0] == str(db)


@needs_proc
def test_descriptors_of_finds_only_the_given_files(tmp_path):
    wanted, other = tmp_path / "db", tmp_path / "other"
    with open(wanted, "wb") as a, open(other, "wb") as b, open(wanted, "rb") as c:
        found = descriptors_of([str(wanted)])
        assert sorted(found) == sorted([a.fileno(), c.fileno()])
        assert b.fileno() not in found
    assert descriptors_of([str(wanted)]) == []  # closed: nothing left to flush
    assert descriptors_of([str(wanted)], fd_dir=str(tmp_path / "no-such-dir")) == []


@needs_proc
def test_flush_once_syncs_each_open_descriptor_and_survives_a_failing_one(tmp_path):
    path = tmp_path / "db"
    synced = []

    def sync(fd):
        synced.append(fd)
        if len(synced) == 1:
            raise OSError("closed meanwhile")

    with open(path, "wb") as a, open(path, "rb") as b:
        behind = WriteBehind([str(path)], sync=sync)
        assert behind.flush_once() == 1  # two found, the first failed, the second flushed
        assert sorted(synced) == sorted([a.fileno(), b.fileno()])
        assert behind.flushes == 1


@needs_proc
def test_flush_once_with_the_real_fdatasync(tmp_path):
    path = tmp_path / "db"
    with open(path, "wb") as f:
        f.write(b"x" * 65536)
        f.flush()
        assert WriteBehind([str(path)]).flush_once() == 1


@needs_proc
def test_the_thread_flushes_while_the_block_runs_and_is_gone_after_it(tmp_path):
    path = tmp_path / "db"
    flushed = threading.Event()
    calls = []

    def sync(fd):
        calls.append(fd)
        flushed.set()

    with open(path, "wb") as f:
        with WriteBehind([str(path)], interval=0.001, sync=sync) as behind:
            assert behind.running
            assert flushed.wait(10)  # a round ran on the thread, not on this one
            assert calls[0] == f.fileno()
        assert not behind.running
        behind.stop()  # idempotent
    assert not any(t.name == "adce-write-behind" for t in threading.enumerate())


def test_no_thread_without_files_or_without_proc(tmp_path):
    with WriteBehind(()) as behind:
        assert not behind.enabled and not behind.running
    with WriteBehind([str(tmp_path / "db")], fd_dir=str(tmp_path / "no-proc")) as behind:
        assert not behind.enabled and not behind.running
