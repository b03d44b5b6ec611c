"""A reconcile's summary: what `reconcile --json` prints and ReconcileRun.summary keeps."""
from __future__ import annotations

from reconciliation.choices import GapKind, Priority
from reconciliation.domain.analysis import AnalysisReport


def reconcile_summary(run, report: AnalysisReport, changes: dict, scan_info: dict, timings: dict, as_of, dry_run,
                      output_path) -> dict:
    by_priority = {p.lower(): 0 for p in Priority.values}
    by_kind = {k: 0 for k in GapKind.values}
    for f in report.gaps:
        by_priority[f.priority.lower()] += 1
        by_kind[f.kind] += 1
    created = changes["tasks_created"]
    return {
        "run": run.pk if run is not None else None,
        "dry_run": dry_run,
        "as_of": as_of.isoformat(),
        "scan": scan_info,
        "gaps": {
            "total": len(report.gaps),
            "by_priority": by_priority,
            "by_kind": by_kind,
            "opened": changes["opened"],
            "updated": changes["updated"],
            "resolved": changes["resolved"],
            "ignored": changes["ignored"],
        },
        "tasks": {
            "created": len(created),
            "done": changes["tasks_done"],
            "reranked": changes["tasks_reranked"],
            "created_tasks": created[:200],
        },
        "completeness": [
            {"source": c.source, "data_type": c.data_type, "season": c.season, "expected": c.expected,
             "present": c.present, "completeness": None if c.completeness is None else round(c.completeness, 6),
             **({"not_judged": c.reason} if c.completeness is None else {}), **({"counted": True} if c.counted else {})}
            for c in report.completeness
        ],
        "not_judged": sum(c.completeness is None for c in report.completeness),
        "output": {"path": str(output_path), "written": not dry_run} if output_path else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
