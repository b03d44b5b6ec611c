"""The task queue file (SPEC §8): every open task (pending or claimed) with its still-open partitions.

    queue_document(as_of) -> dict          the gaps.json document
    queue_file_write(path, as_of) -> dict  written atomically (temp file in the same folder + rename)

Task order: most urgent first, then source, data type, season (fixed keys last), gap kind, and the
task's first partition — the order plan_tasks creates them in. A task whose partitions have all been
resolved is done (reconcile marks it) and is not listed; an open task with no open partition left
(e.g. an operator ignored its gaps) is not listed either.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from django.utils import timezone

from adce_site.iterables import chunks
from reconciliation.choices import OPEN_TASK_STATUSES, GapStatus, Priority
from reconciliation.models import Gap, Task
from reconciliation.selectors import iso_z, last_completed_reconcile, task_queue_entry

_CHUNK = 500


def _open_partitions(task_ids: list) -> dict:
    """task id → [(game_date, partition)] of its open gaps, in partition order."""
    out: dict = defaultdict(list)
    for chunk in chunks(task_ids, _CHUNK):
        rows = (Gap.objects.filter(task_id__in=chunk, status=GapStatus.OPEN)
                .values_list("task_id", "game_date", "partition"))
        for task_id, game_date, partition in rows.iterator(chunk_size=10_000):
            out[task_id].append((game_date, partition))
    for parts in out.values():
        parts.sort(key=lambda p: (p[0] is None, p[0] or dt.date.min, p[1]))
    return out


def queue_document(as_of: dt.date, *, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    tasks = list(Task.objects.filter(status__in=OPEN_TASK_STATUSES).select_related("source", "data_type"))
    partitions = _open_partitions([t.pk for t in tasks])
    entries = []
    for t in tasks:
        parts = partitions.get(t.pk)
        if not parts:
            continue
        first = parts[0]
        order = (t.priority_rank, t.source.name, t.data_type.name, t.season is None, t.season or "", t.gap_kind,
                 first[0] is None, first[0] or dt.date.min, first[1], t.created_at, str(t.pk))
        entries.append((order, t, [p for _, p in parts]))
    entries.sort(key=lambda e: e[0])

    docs = []
    by_priority = {p.lower(): 0 for p in Priority.values}
    by_source: dict[str, int] = {}
    by_scraper: dict[str, int] = {}
    total_minutes: float = 0
    for _, t, parts in entries:
        entry = task_queue_entry(t, parts)
        total_minutes += entry["estimated_time_minutes"]
        by_priority[t.priority.lower()] += 1
        by_source[t.source.name] = by_source.get(t.source.name, 0) + 1
        by_scraper[t.scraper] = by_scraper.get(t.scraper, 0) + 1
        docs.append(entry)
    total = int(total_minutes) if float(total_minutes).is_integer() else round(total_minutes, 1)
    return {
        "generated_at": iso_z(now),
        "as_of": as_of.isoformat(),
        "total_tasks": len(docs),
        "by_priority": by_priority,
        "by_source": dict(sorted(by_source.items())),
        "by_scraper": dict(sorted(by_scraper.items())),
        "estimated_total_minutes": total,
        "not_judged": not_judged_cells(),
        "tasks": docs,
    }


def not_judged_cells() -> list[dict]:
    """§10: what the latest reconcile could not judge, per (source, data type, reason) with its seasons
    (null for a fixed key), so that a reader of the queue never takes a silent type for a complete one."""
    run = last_completed_reconcile()
    cells: dict[tuple, list] = {}
    for c in (run.summary.get("completeness") or []) if run is not None and isinstance(run.summary, dict) else []:
        if isinstance(c, dict) and c.get("not_judged"):
            cells.setdefault((c.get("source"), c.get("data_type"), c["not_judged"]), []).append(c.get("season"))
    return [{"source": source, "data_type": name, "reason": reason, "seasons": seasons}
            for (source, name, reason), seasons in sorted(cells.items())]


def queue_file_write(path: str | os.PathLike, as_of: dt.date, *, now: dt.datetime | None = None) -> dict:
    """Write the document atomically: readers see the old file or the new one, never half of one."""
    document = queue_document(as_of, now=now)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the queue from the scrapers' user
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return document
