"""Which entries of the snapshot folder nobody needs any more (pure: the engine lists and deletes).

A scan or a reconcile killed mid-way (OOM, SIGKILL, a lost host) never runs its own cleanup, and its
Parquet files or DuckDB spill folder can be hundreds of MB each (381 MB per generation at 10M objects).
The rule, in the order the sweep reads its facts so that a scan finishing meanwhile is never robbed:

* `scan-<id>.parquet`, `scan-<id>-part-<n>.parquet`, `scan-<id>-carried.parquet` (in a store's folder),
  and a rescan's spill folder `duckdb-tmp-<id>`: kept while scan <id> runs or while any snapshot record
  names the file (its files, its parts, the retired generation a reader may still hold); else orphaned.
* a reader's spill folder `duckdb-tmp-<tag>-<pid>-<n>`: its owner may be on another host, so only its age
  tells — orphaned when nothing in it changed for `reader_max_age` (a day by default).
* anything else is not ours to judge: kept.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SCAN_FILE = re.compile(r"scan-(\d+)(?:-part-\d+|-carried)?\.parquet")
SCAN_SPILL = re.compile(r"duckdb-tmp-(\d+)")
READER_SPILL = re.compile(r"duckdb-tmp-[a-z][\w-]*")  # duckdb-tmp-<tag>-<pid>-<n>; tags may hold digits
READER_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Entry:
    path: str  # as the snapshot records name their files
    name: str  # the last part of the path
    age_s: float  # seconds since anything in it last changed


def entries_orphaned(entries: Iterable[Entry], *, referenced: set[str], running_scans: set[int],
                     reader_max_age_s: float = READER_MAX_AGE_S) -> list[Entry]:
    """The entries to delete, by the rule of the module doc."""
    out = []
    for entry in entries:
        owner = SCAN_FILE.fullmatch(entry.name) or SCAN_SPILL.fullmatch(entry.name)
        if owner:
            if int(owner.group(1)) not in running_scans and entry.path not in referenced:
                out.append(entry)
        elif READER_SPILL.fullmatch(entry.name) and entry.age_s > reader_max_age_s:
            out.append(entry)
    return out
