"""Verification closes the loop (SPEC §13): after every run, look at the task's expected keys
directly — a HEAD per key on S3 (a small thread pool), a stat on file:// — never a rescan. What is
found goes into the inventory, what is not is removed from it, and every gap whose partition is now
present by §6 (not empty, not stale) is resolved by the same rule as the S3-event loop
(services.closed_loop.gaps_rejudge). A probe that fails (other than "not found") is an error: nothing is
judged from a partial look.

A `short` task (§10, an open data type: "N more partitions this season") has no key to probe: its data
type's region — the literal folder of each of its patterns — is listed instead, the inventory of that
region replaced by the listing, and its short gaps re-judged by the analysis reconcile runs
(services.closed_loop.short_gaps_rejudge). A listing that fails judges nothing either.
"""
from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciliation.choices import GapKind, GapStatus
from reconciliation.models import Gap, Task
from reconciliation.domain.matcher import Match
from reconciliation.storage import list_objects, parse_location
from reconciliation.storage.errors import StorageError
from reconciliation.storage.locations import Location, ObjectInfo
from reconciliation.orchestration.rules import expected_key

HEAD_WORKERS = 16


@dataclass(frozen=True, slots=True)
class ExpectedPartition:
    partition: str
    key: str | None  # relative to the source location; None when the pattern cannot be filled in


@dataclass(slots=True)
class Verification:
    expected: int = 0
    present: int = 0           # partitions with no open gap after verification
    resolved: int = 0          # gaps closed by this verification
    found_keys: int = 0
    error: str = ""
    missing_partitions: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.expected - self.present


def expected_partitions(task: Task) -> list[ExpectedPartition]:
    """The task's still-open partitions with their key under the data type's first pattern."""
    data_type = task.data_type
    pattern = (data_type.path_patterns or [None])[0]
    rows = (Gap.objects.filter(task=task, status=GapStatus.OPEN).order_by("game_date", "partition")
            .values_list("partition", "season", "game_date"))
    return [ExpectedPartition(p, expected_key(pattern, level=data_type.level, partition=p, season=s, game_date=d)
                              if pattern else None) for p, s, d in rows]


def _stat_file(location: Location, rel: str) -> ObjectInfo | None:
    full = location.prefix + rel
    try:
        st = os.stat("/" + full)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as exc:
        raise StorageError(f"file:///{full}: {exc.strerror or exc}") from None
    if not os.path.isfile("/" + full):
        return None
    return ObjectInfo(full, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))


def _head_many(location: Location, rels: list[str]) -> dict[str, ObjectInfo | None]:
    from botocore.exceptions import ClientError

    from ..storage.s3 import _describe, _error_code, make_s3_client

    client = make_s3_client()

    def head(rel: str):
        key = location.prefix + rel
        try:
            r = client.head_object(Bucket=location.bucket, Key=key)
        except ClientError as exc:
            code, _msg, status = _error_code(exc)
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return rel, None
            raise StorageError(f"HEAD s3://{location.bucket}/{key}: {_describe(location, exc)}") from None
        except Exception as exc:  # endpoint down, credentials…: an error, never "missing"
            raise StorageError(f"HEAD s3://{location.bucket}/{key}: {_describe(location, exc)}") from None
        return rel, ObjectInfo(key, int(r.get("ContentLength", 0)), r["LastModified"].astimezone(dt.UTC),
                               str(r.get("ETag", "")).strip('"'))

    with ThreadPoolExecutor(max_workers=min(HEAD_WORKERS, max(1, len(rels)))) as pool:
        found = dict(pool.map(head, rels))
    if any(o is None for o in found.values()):
        # HEAD answers a bare 404 for a missing bucket too: "not there" only once the bucket is.
        try:
            client.head_bucket(Bucket=location.bucket)
        except Exception as exc:
            raise StorageError(f"HEAD s3://{location.bucket}/: {_describe(location, exc)}") from None
    return found


def probe_keys(location_uri: str, rels: list[str]) -> dict[str, ObjectInfo | None]:
    """{relative key: ObjectInfo or None (not there)}; StorageError when any probe fails."""
    location = parse_location(location_uri)
    if not rels:
        return {}
    if location.scheme == "s3":
        return _head_many(location, rels)
    return {rel: _stat_file(location, rel) for rel in rels}


def short_regions(patterns) -> list[str]:
    """The folders (relative to the source location) that hold every key of these patterns: each
    pattern's text before its first placeholder, cut back to its last '/'; a folder inside another
    listed one is dropped. "" (the whole location) when a pattern starts with a placeholder."""
    folders = sorted({p[:p.find("{") if "{" in p else len(p)].rpartition("/")[0] for p in patterns})
    folders = [f + "/" if f else "" for f in folders]
    return [f for i, f in enumerate(folders) if not any(f.startswith(g) for g in folders[:i])]


def _list_regions(location: Location, regions: list[str]) -> tuple[list[ObjectInfo], list[str]]:
    """(every object under the regions, the inventory's keys there that the listing no longer shows).
    Raises StorageError when a listing fails: the caller judges nothing."""
    from reconciliation.object_selectors import keys_under

    listed: list[ObjectInfo] = []
    gone: list[str] = []
    for region in regions:
        folder = location.child(region)
        # on file://, a data type folder not made yet holds nothing (its source's folder must exist)
        absent = (location.scheme == "file" and region and os.path.isdir(location.path)
                  and not os.path.lexists(folder.path))
        here = [] if absent else list(list_objects(folder))
        keys = {o.key for o in here}
        gone += [k for k in keys_under(location.store, location.prefix + region) if k not in keys]
        listed += here
    return listed, gone


class _KnownKeys:
    """A matcher for keys whose data type and partition are already known (the expected keys)."""

    def __init__(self, matches: dict[str, Match]):
        self.matches = matches

    def match(self, store: str, key: str) -> Match | None:
        return self.matches.get(key)


def task_verify(task: Task, expected: list[ExpectedPartition] | None = None) -> Verification:
    """Probe the expected keys, refresh the inventory with what is there and resolve the gaps now
    present by §6. Returns counts; `error` is set (and nothing judged) when a probe failed."""
    from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
    from reconciliation.services.closed_loop import gaps_rejudge, short_gaps_rejudge

    expected = expected_partitions(task) if expected is None else expected
    result = Verification(expected=len(expected))
    keyed = [e for e in expected if e.key is not None]
    short = Gap.objects.filter(task=task, status=GapStatus.OPEN, kind=GapKind.SHORT).exists()
    try:
        found = probe_keys(task.source.location, [e.key for e in keyed])
        listed, unlisted = (_list_regions(parse_location(task.source.location),
                                          short_regions(task.data_type.path_patterns)) if short else ([], []))
    except (StorageError, ValueError) as exc:
        result.error = f"verification failed: {exc}"
        result.present = result.expected - len(expected)  # nothing judged: every partition still counts
        result.missing_partitions = [e.partition for e in expected]
        return result
    location = parse_location(task.source.location)
    objects = [o for o in found.values() if o is not None]
    result.found_keys = len(objects)
    # Each expected key is its partition's key by construction: no need to build the whole matcher.
    known = _KnownKeys({location.prefix + e.key: Match(task.data_type_id, e.partition, task.season)
                        for e in keyed})
    touched = objects_upsert(location.store, objects, matcher=known) if objects else set()
    gone = [location.prefix + rel for rel, o in found.items() if o is None]
    if gone:
        objects_delete(location.store, gone)
    result.resolved = gaps_rejudge(touched) if touched else 0
    if short:  # the region's listing is complete: it replaces the inventory there, then the count is judged
        if listed:
            objects_upsert(location.store, listed)
        if unlisted:
            objects_delete(location.store, unlisted)
        result.found_keys += len(listed)
        result.resolved += short_gaps_rejudge(task.data_type_id)
    still_open = set(Gap.objects.filter(task=task, status=GapStatus.OPEN,
                                        partition__in=[e.partition for e in expected])
                     .values_list("partition", flat=True))
    result.missing_partitions = [e.partition for e in expected if e.partition in still_open]
    result.present = result.expected - len(result.missing_partitions)
    return result
