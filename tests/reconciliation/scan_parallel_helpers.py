"""Multi-file inventory reports for the scale-out scan's tests."""
from __future__ import annotations

import datetime as dt
import json
import os
from urllib.parse import urlparse

from bench.inventory_writer import write_csv_inventory_report
from reconciliation.models import StoredObject

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 11, 1, 10, tzinfo=UTC)
N = 3_000
PER_FILE = 700  # 5 data files


def rows(changed=(), vanished=(), new=(), dup_of=None):
    """N objects: mostly matched, every 50th unmatched; `dup_of` lists a key of the first file again last."""
    for i in range(N):
        if i in vanished:
            continue
        size, etag = (101, "f") if i in changed else (100, "e")
        key = f"espn/pbp/{i}.json" if i % 50 else f"espn/misc/{i}.txt"
        yield key, size, WHEN, f"{etag}{i}"
    for i in new:
        yield f"espn/pbp/{N + i}.json", 7, WHEN + dt.timedelta(days=1), f"n{i}"
    if dup_of is not None:
        yield f"espn/pbp/{dup_of}.json", 999, WHEN + dt.timedelta(days=2), "dup"


def report(folder, stamp="2024-01-01T00-00Z", **kw) -> str:
    return write_csv_inventory_report(str(folder), source_bucket="lake", rows=rows(**kw), rows_per_file=PER_FILE,
                                      stamp=stamp)


def corrupt_file(manifest_uri: str, n: int) -> str:
    """Cut data file `n` short (a broken gzip stream) and drop its size and MD5 from the manifest (and the
    manifest's checksum), so that reading it is what fails. Returns its key."""
    path = urlparse(manifest_uri).path
    with open(path) as fh:
        manifest = json.load(fh)
    entry = manifest["files"][n]
    entry.pop("size", None)
    entry["MD5checksum"] = ""
    with open(path, "w") as fh:
        json.dump(manifest, fh)
    checksum = os.path.join(os.path.dirname(path), "manifest.checksum")
    if os.path.exists(checksum):
        os.remove(checksum)
    data = path.split("/inventory/")[0] + "/" + entry["key"]
    with open(data, "rb") as fh:
        raw = fh.read()
    with open(data, "wb") as fh:
        fh.write(raw[: len(raw) // 2])
    return entry["key"]


def snapshot() -> set[tuple]:
    return set(StoredObject.objects.values_list("store", "key", "size", "last_modified", "etag", "source_id",
                                                "data_type_id", "partition"))


def comparable(summary: dict) -> dict:
    """A scan's --json without what differs between two scans of the same report (id, times)."""
    return {k: v for k, v in summary.items()
            if k not in ("id", "started_at", "finished_at", "duration_ms", "timings", "inventory", "trigger")}
