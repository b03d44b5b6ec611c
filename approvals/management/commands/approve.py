"""`approve list|review|accept|reject` — the approval workflow from the shell (SPEC §7).

Requests raised by verify/update are raised by "system", so any named reviewer may decide them; a
reviewer can never decide a request they raised. Every refusal exits 2 with one line, nothing changed.
"""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json
from approvals.choices import ApprovalStatus
from approvals.selectors import (approval_request_document, approval_request_get,
                                 approval_requests_pending, approval_requests_ranked, measurement_document,
                                 metric_recent_measurements)
from approvals.services import ApprovalError, approval_request_accept, approval_request_reject


class Command(BaseCommand):
    help = ("Review approval requests of critical metrics. "
            "list [--json] [--all] | review --id N [--json] | "
            "accept --id N --reviewer NAME [--notes T] | reject --id N --reviewer NAME [--notes T]")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="{list,review,accept,reject}")
        sub.required = True
        p = sub.add_parser("list", help="pending requests, critical first, then oldest first")
        p.add_argument("--json", dest="as_json", action="store_true", help="print one JSON document")
        p.add_argument("--all", dest="include_decided", action="store_true", help="include decided requests (the history), newest first")
        p = sub.add_parser("review", help="one request in detail with the metric's recent measurements")
        p.add_argument("--id", dest="request_id", help="the request id")
        p.add_argument("--json", dest="as_json", action="store_true", help="print one JSON document")
        for name, verb in (("accept", "apply the proposed value as the new baseline"),
                           ("reject", "keep the baseline as it is")):
            p = sub.add_parser(name, help=verb)
            # Validated here rather than by argparse so a missing value exits 2 under call_command too.
            p.add_argument("--id", dest="request_id", help="the request id")
            p.add_argument("--reviewer", help="who decides (required; not the raiser)")
            p.add_argument("--notes", default="", help="why")

    def handle(self, *args, action, **opts):
        return getattr(self, f"do_{action}")(**opts)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _request_id(raw) -> int:
        if raw in (None, ""):
            raise bad_input("--id is required")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise bad_input(f"--id: not an integer: {raw!r}") from None
        if value <= 0:
            raise bad_input(f"--id: not a request id: {raw!r}")
        return value

    def _load(self, raw):
        req_id = self._request_id(raw)
        req = approval_request_get(req_id)
        if req is None:
            raise bad_input(f"approval request #{req_id} does not exist")
        return req

    # ------------------------------------------------------------------ actions
    def do_list(self, *, as_json=False, include_decided=False, **_):
        if include_decided:
            qs = approval_requests_ranked().select_related("metric").order_by("-raised_at", "-pk")
        else:
            qs = approval_requests_pending()
        docs = [approval_request_document(r) for r in qs]
        if as_json:
            emit_json(self.stdout, {"status": "all" if include_decided else ApprovalStatus.PENDING,
                                    "count": len(docs), "requests": docs})
            return
        if not docs:
            self.stdout.write("no pending approval requests" if not include_decided else "no approval requests")
            return
        for d in docs:
            drift = "—" if d["drift_pct"] is None else f"{d['drift_pct']:.2f}%"
            decided = f"  {d['status']} by {d['reviewer']}" if d["reviewer"] else (
                f"  {d['status']}" if d["status"] != ApprovalStatus.PENDING else "")
            self.stdout.write(
                f"#{d['id']:<5} {d['severity']:<8} {d['metric']}  {d['baseline']!r} -> {d['proposed']!r}"
                f"  drift {drift}  raised by {d['raised_by']} at {d['raised_at']:%Y-%m-%d %H:%M}{decided}")

    def do_review(self, *, request_id=None, as_json=False, **_):
        req = self._load(request_id)
        doc = approval_request_document(req)
        recent = [measurement_document(m) for m in metric_recent_measurements(req.metric, limit=10)]
        if as_json:
            emit_json(self.stdout, {"request": doc, "recent_measurements": recent})
            return
        w = self.stdout.write
        w(f"approval request #{doc['id']}  [{doc['status']}]")
        w(f"  metric        {doc['metric']} ({doc['parse_type']})")
        w(f"  baseline      {doc['baseline']!r} (when raised); now {doc['current_baseline']!r}")
        w(f"  proposed      {doc['proposed']!r}")
        drift = "—" if doc["drift_pct"] is None else f"{doc['drift_pct']:.2f}%"
        w(f"  drift         {drift}  severity {doc['severity']}")
        w(f"  raised        by {doc['raised_by']} at {doc['raised_at'].isoformat()}"
          f" (measurement {doc['measurement_id']}, run {doc['run_id']})")
        if doc["reviewer"]:
            w(f"  decided       by {doc['reviewer']} at {doc['reviewed_at'].isoformat()}; applied: {doc['applied']}")
        if doc["notes"]:
            w(f"  notes         {doc['notes']}")
        if doc["stale"]:
            w(f"  stale         {doc['stale']}")
        w("  recent measurements (newest first):")
        for m in recent:
            w(f"    {m['measured_at']:%Y-%m-%d %H:%M}  {m['value']!r:>16}  {m['status']:<9} {m['severity']}")

    def _decide(self, service, verb, *, request_id=None, reviewer=None, notes="", **_):
        req_id = self._request_id(request_id)
        if not (reviewer or "").strip():
            raise bad_input("--reviewer is required")
        try:
            req = service(req_id, reviewer=reviewer.strip(), notes=notes or "")
        except ApprovalError as exc:
            raise bad_input(str(exc)) from None
        metric = req.metric
        tail = (f"baseline of {metric.full_name} is now {req.proposed_value!r}" if req.applied
                else f"baseline of {metric.full_name} stays {metric.baseline_value!r}")
        self.stdout.write(f"approval request #{req.pk} {verb} by {req.reviewer}: {tail}")

    def do_accept(self, **opts):
        self._decide(approval_request_accept, ApprovalStatus.APPROVED, **opts)

    def do_reject(self, **opts):
        self._decide(approval_request_reject, ApprovalStatus.REJECTED, **opts)

