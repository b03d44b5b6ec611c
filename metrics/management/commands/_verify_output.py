"""Shared by `verify` and `update`: run, notify, print a run's report (human lines or the --json
document) and exit 1 when something is left unresolved."""
from adce_site.cli import StderrProgress, bad_input, emit_json
from events.notifications import notify_verification
from metrics.choices import DriftStatus
from metrics.services import MetricSelectionError


def run_and_report(command, options: dict, start) -> None:
    """`start(progress)` runs the verification; bad selections exit 2."""
    progress = StderrProgress(command.stderr, quiet=options["quiet"] or options["json"])
    try:
        run = start(progress)
    except MetricSelectionError as exc:
        raise bad_input(str(exc)) from None
    notify_verification(run.pk)  # critical severity → email/webhook; never fails the run
    run_report(command, run, as_json=options["json"], quiet=options["quiet"])
    if run.summary.get("unresolved"):
        raise SystemExit(1)


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return repr(value) if isinstance(value, str) else str(value).lower()


def run_report(command, run, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        emit_json(command.stdout, {"run": run.pk, "summary": run.summary,
                                   "metrics": [r.as_json() for r in run.results]})
        return
    for r in run.results:
        if quiet and not r.unresolved:
            continue
        line = f"{r.metric:<45} {r.status:<9} {r.severity:<8} {fmt(r.actual):>14}"
        if r.status == DriftStatus.ERROR:
            line += f"  error: {r.error}"
        else:
            line += f"  baseline {fmt(r.baseline)}"
            if r.drift_pct is not None and r.status != DriftStatus.OK:
                line += f"  drift {r.drift_pct:.2f}%"
        tags = [t for t, on in (("cached", r.from_cache), ("applied", r.applied)) if on]
        if r.approval_id is not None:
            tags.append(f"approval #{r.approval_id} pending")
        if tags:
            line += f"  [{', '.join(tags)}]"
        command.stdout.write(line)
    s = run.summary
    counts = ", ".join(f"{s[k]} {k}" for k in DriftStatus if s.get(k))
    command.stdout.write(
        f"run #{run.pk}: {s['total']} metric(s) in {run.duration_ms / 1000:.2f}s — {counts or 'nothing verified'}; "
        f"{s['applied']} applied, {s['pending_approval']} pending approval, {s['from_cache']} from cache"
        + (" (values within their TTL are reused: --no-cache measures everything fresh)" if s.get("from_cache") else ""))
