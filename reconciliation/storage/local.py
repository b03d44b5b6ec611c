"""file:// listing: os.scandir recursion, keys are absolute paths without their leading "/"."""
from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable, Iterator

from .errors import StorageError
from .locations import Location, ObjectInfo

_UTC = dt.timezone.utc
_PROGRESS_EVERY = 50_000


def list_local(location: Location, *, progress: Callable[[str], None] | None = None,
               stats=None) -> Iterator[ObjectInfo]:
    """Every regular file below the folder, in key order (sorted per directory, depth-first).

    Rules (see docs/storage.md): symlinks to files are followed (size/mtime of the target); symlinks to
    directories are NOT descended (no cycles, no escaping the location) and are not objects; other
    non-regular entries (sockets, fifos, devices) are skipped. A dangling symlink, a file name that is
    not valid UTF-8 (no key can hold it, no database can store it), or any directory that cannot be
    read, is a StorageError: a listing is complete or it is an error.
    """
    root = location.path.rstrip("/") or "/"
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise StorageError(f"{location.uri}: folder does not exist") from None
    except OSError as exc:
        raise StorageError(f"{location.uri}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StorageError(f"{location.uri}: not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise StorageError(f"{location.uri}: cannot read: permission denied")
    count = 0
    fromts = dt.datetime.fromtimestamp
    for path, entry_stat in _walk(location, root):
        if not path.isascii():
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in a name (os.fsdecode's surrogates)
                raise StorageError(f"{location.uri}: file name is not valid UTF-8: {path!r} "
                                   "(an S3 key is always UTF-8; rename or remove it)") from None
        count += 1
        if stats is not None:
            stats.objects += 1
            stats.bytes += entry_stat.st_size
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(f"{location.uri}: {count} objects listed\n")
        yield ObjectInfo(path[1:], entry_stat.st_size, fromts(entry_stat.st_mtime, _UTC))


def _scan_sorted(location: Location, folder: str) -> list:
    """Entries of one folder in key order: a sub-folder sorts as "name/" (that is where its keys sort)."""
    try:
        with os.scandir(folder) as it:
            entries = []
            for e in it:
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError as exc:
                    raise StorageError(f"{location.uri}: cannot read {e.path}: {exc.strerror or exc}") from None
                entries.append((e.name + "/" if is_dir else e.name, is_dir, e))
    except OSError as exc:
        raise StorageError(f"{location.uri}: cannot read {folder}: {exc.strerror or exc}") from None
    entries.sort(key=lambda t: t[0])
    return entries


def _walk(location: Location, root: str):
    # Explicit stack of iterators rather than nested generators: constant cost per object at any depth.
    stack = [iter(_scan_sorted(location, root))]
    while stack:
        for _sort_name, is_dir, entry in stack[-1]:
            full = entry.path
            if is_dir:
                stack.append(iter(_scan_sorted(location, full)))
                break
            try:
                if entry.is_symlink():
                    try:
                        target = os.stat(full)
                    except FileNotFoundError:
                        raise StorageError(f"{location.uri}: dangling symlink {full}") from None
                    if stat.S_ISREG(target.st_mode):
                        yield full, target
                    continue  # symlink to a directory or special file: not an object
                if entry.is_file(follow_symlinks=False):
                    yield full, entry.stat(follow_symlinks=False)
            except StorageError:
                raise
            except OSError as exc:
                raise StorageError(f"{location.uri}: cannot read {full}: {exc.strerror or exc}") from None
        else:
            stack.pop()
