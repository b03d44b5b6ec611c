"""The scan and reconcile run pages of the admin: their stored summaries (ScanRun.stats,
ReconcileRun.summary) turned into rows for the tables of templates/admin/reconciliation/*_summary.html,
with sizes and durations formatted. Pure functions of the run (plus one query for source names)."""
from __future__ import annotations

from adce_site.humanize import duration_label, duration_ms_label, size_label

from reconciliation.choices import Priority, ScanPartStatus
from reconciliation.models import ReconcileRun, ScanRun, Source

TASKS_SHOWN = 50


def _sources_by_location() -> dict[str, list[str]]:
    by_uri: dict[str, list[str]] = {}
    for name, uri in Source.objects.order_by("name").values_list("name", "location"):
        by_uri.setdefault(uri.rstrip("/") + "/", []).append(name)
    return by_uri


def _timings(timings: dict | None) -> list[dict]:
    return [{"step": step, "time": duration_label(seconds)} for step, seconds in (timings or {}).items()
            if isinstance(seconds, (int, float))]


def unmatched_rows(keys: list[str], location_uris: list[str], sources: dict[str, list[str]]) -> list[dict]:
    """Each unmatched key split into the scanned location (prefix) it fell under and the rest: the
    part a path pattern would have had to match."""
    prefixes = sorted({u.rstrip("/") + "/" for u in location_uris} | set(sources), key=len, reverse=True)
    rows = []
    for key in keys:
        under = next((p for p in prefixes if key.startswith(p)), "")
        rows.append({"under": under, "sources": ", ".join(sources.get(under, [])), "relative": key[len(under):]})
    return rows


def scan_run_context(run: ScanRun) -> dict:
    stats = run.stats or {}
    sources = _sources_by_location()
    locations = [{
        "uri": loc.get("uri", ""), "sources": ", ".join(sources.get(str(loc.get("uri", "")).rstrip("/") + "/", [])),
        "objects": f"{loc.get('objects', 0):,}", "size": size_label(loc.get("bytes")),
        "matched": f"{loc.get('matched', 0):,}", "unmatched": f"{loc.get('unmatched', 0):,}",
        "time": duration_label(loc.get("seconds")),
    } for loc in stats.get("locations") or []]
    inventory = stats.get("inventory") or {}
    keys = list(run.unmatched_examples or [])
    return {
        "totals": [
            ("objects", f"{run.objects_seen:,}"), ("size", size_label(run.bytes_seen)),
            ("matched a pattern", f"{run.matched_count:,}"), ("unmatched", f"{run.unmatched_count:,}"),
            *([("estimated objects", f"≈ {run.estimated_objects:,}"), ("estimated size", size_label(run.estimated_bytes))]
              if run.estimated_objects is not None else []),
            ("outside every location", f"{stats.get('outside_locations', 0):,}"),
            ("duration", duration_ms_label(run.duration_ms)),
        ],
        "locations": locations,
        "timings": _timings(stats.get("timings")),
        "inventory": _inventory_rows(inventory),
        "unmatched": unmatched_rows(keys, [loc["uri"] for loc in locations], sources),
        "unmatched_more": max(0, run.unmatched_count - len(keys)),
        **(_parts(run) if run.parallel else {}),
    }


def _inventory_rows(inventory: dict) -> list[tuple[str, str]]:
    """Which store holds the objects, the swap's counts, then how it diffed: against the last scan's
    snapshot, or staged (and why no snapshot served)."""
    rows = []
    if inventory.get("object_store") == "files":
        rows.append(("object store", "Parquet files (ADCE_OBJECT_STORE=files): no row written"))
    elif inventory.get("object_store") == "rows":
        rows.append(("object store", "database rows (StoredObject)"))
    rows += [(k, f"{v:,}") for k, v in inventory.items() if isinstance(v, int) and not isinstance(v, bool)]
    if inventory.get("bulk_load"):
        rows.append(("diff", "none: bulk load of an empty inventory"))
    elif inventory.get("diff"):
        rows.append(("diff", "against the last scan's snapshot" if inventory["diff"] == "snapshot" else "staged rows"))
    if inventory.get("snapshot_refused") and not inventory.get("bulk_load"):
        rows.append(("no snapshot diff", inventory["snapshot_refused"]))
    return rows


def _parts(run: ScanRun) -> dict:
    """A scale-out scan's data files (one ScanPart each): where every file stands, so that an operator
    sees which file failed and why, or which one a dead worker left behind (its lease)."""
    parts = list(run.parts.order_by("seq"))
    counts = {status: 0 for status in ScanPartStatus.values}
    rows = []
    for part in parts:
        counts[part.status] += 1
        took = (part.finished_at - part.started_at).total_seconds() if part.started_at and part.finished_at else None
        rows.append({
            "seq": part.seq, "file": part.file_uri.rsplit("/", 1)[-1], "uri": part.file_uri,
            "size": size_label(part.file_size) if part.file_size is not None else "—",
            "status": part.status, "rows": f"{part.rows:,}" if part.status in (ScanPartStatus.DONE, ScanPartStatus.FINISHING) else "—",
            "time": duration_label(took) if took is not None else "—",
            "lease": part.lease_until if part.status in (ScanPartStatus.PENDING, ScanPartStatus.RUNNING) else None,
            "error": part.error,
        })
    done = counts[ScanPartStatus.DONE] + counts[ScanPartStatus.FINISHING]
    states = ", ".join(f"{n} {status}" for status, n in counts.items() if n and status not in (ScanPartStatus.DONE, ScanPartStatus.FINISHING))
    return {"parts": rows, "parts_line": f"{done} of {len(parts)} data files staged" + (f"; {states}" if states else "")}


def reconcile_run_context(run: ReconcileRun) -> dict:
    s = run.summary or {}
    gaps, tasks, scan = s.get("gaps") or {}, s.get("tasks") or {}, s.get("scan") or {}
    by_priority = gaps.get("by_priority") or {}
    completeness = sorted(s.get("completeness") or [],
                          key=lambda c: (c.get("source", ""), c.get("data_type", ""), c.get("season") or ""))
    created = tasks.get("created_tasks") or []
    return {
        "scan": scan,
        "gap_changes": [(k, f"{gaps.get(k, 0):,}") for k in ("opened", "updated", "resolved", "ignored") if k in gaps],
        "gaps_total": f"{gaps.get('total', 0):,}",
        "by_priority": [{"priority": p, "count": f"{by_priority.get(p.lower(), 0):,}"} for p in Priority.values],
        "by_kind": [(k, f"{v:,}") for k, v in (gaps.get("by_kind") or {}).items()],
        "task_changes": [(k, f"{tasks.get(k, 0):,}") for k in ("created", "done", "reranked") if k in tasks],
        "created_tasks": created[:TASKS_SHOWN],
        "created_more": max(0, len(created) - TASKS_SHOWN),
        "completeness": [{
            **c, "percent": None if c.get("completeness") is None else f"{c['completeness'] * 100:.1f} %",
            "expected_label": "—" if c.get("expected") is None else f"{c['expected']:,}",
            "present_label": "—" if c.get("present") is None else f"{c['present']:,}",
        } for c in completeness],
        "timings": _timings(s.get("timings")),
        "output": s.get("output") or {},
    }
