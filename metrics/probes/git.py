"""`git_commit_count`: `git rev-list --count`, run without a shell."""
from __future__ import annotations

import datetime as dt
import subprocess

from django.conf import settings

from .base import ParamError, ProbeError, check_keys, register, resolve_path, want_bool, want_str


def validate(params, *, base_dir):
    check_keys(params, required=("repo",), optional=("since", "grep", "ignore_case", "all_branches", "ref"))
    out = dict(params, repo=resolve_path(params, "repo", base_dir))
    if "since" in params:
        since = params["since"]
        if isinstance(since, dt.date):  # YAML reads an unquoted 2025-10-01 as a date
            out["since"] = since.isoformat()
        else:
            try:
                dt.date.fromisoformat(want_str(params, "since"))
            except ValueError:
                raise ParamError("since", f"invalid date {since!r} (expected YYYY-MM-DD)") from None
    if "grep" in params:
        want_str(params, "grep")
    for key in ("ignore_case", "all_branches"):
        if key in params:
            want_bool(params, key)
    if "ref" in params:
        ref = want_str(params, "ref")
        if ref.startswith("-"):
            raise ParamError("ref", f"not a git ref: {ref!r}")
    return out


@register("git_commit_count", validate=validate, parse_type="integer")
def git_commit_count(params, ctx):
    cmd = ["git", "-C", params["repo"], "rev-list", "--count"]
    if params.get("since"):
        cmd.append(f"--since={params['since']}")
    if params.get("grep"):
        cmd.append(f"--grep={params['grep']}")
        if params.get("ignore_case"):
            cmd.append("--regexp-ignore-case")  # grep -i
    if params.get("all_branches"):
        cmd.append("--all")
    else:
        cmd.append(params.get("ref") or "HEAD")
    cmd.append("--")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=settings.ADCE_PROBE_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise ProbeError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"git rev-list timed out after {settings.ADCE_PROBE_TIMEOUT_SECONDS:g}s") from None
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise ProbeError(f"git rev-list failed in {params['repo']}: {reason}")
    try:
        return int(proc.stdout.strip())
    except ValueError:
        raise ProbeError(f"git rev-list printed {proc.stdout.strip()!r}, not a count") from None
