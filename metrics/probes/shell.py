"""`shell`: the original's shell strings. Off unless settings.ADCE_ALLOW_SHELL_PROBES.

They run in the folder import_metrics ran in (`cwd`, recorded at import), with a timeout; a non-zero
exit is an error carrying stderr — never the original's `|| echo 0`. The command does not get
ADCE's own secrets in its environment (adce_site.redact.SHELL_ENV_DROP); what it prints is
recorded with any remaining secret value redacted (metrics.services._measure)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings

from adce_site.redact import shell_environment

from .base import ProbeError, check_keys, register, want_number, want_str


def validate(params, *, base_dir):
    check_keys(params, required=("command",), optional=("cwd", "timeout_seconds"))
    want_str(params, "command")
    out = dict(params)
    out.setdefault("cwd", str(Path(base_dir)))
    if "timeout_seconds" in params:
        want_number(params, "timeout_seconds", minimum=0.001)
    return out


@register("shell", validate=validate, parse_type="integer")
def shell(params, ctx):
    if not settings.ADCE_ALLOW_SHELL_PROBES:
        raise ProbeError("shell probes are disabled (set ADCE_ALLOW_SHELL_PROBES=1 to run them)")
    timeout = params.get("timeout_seconds") or settings.ADCE_PROBE_TIMEOUT_SECONDS
    try:
        proc = subprocess.run(params["command"], shell=True, capture_output=True, text=True,
                              timeout=timeout, cwd=params.get("cwd") or None, env=shell_environment())
    except subprocess.TimeoutExpired:
        raise ProbeError(f"command timed out after {timeout:g}s") from None
    except OSError as exc:
        raise ProbeError(f"cannot run command: {exc}") from None
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.split()) or "no stderr"
        raise ProbeError(f"command exited with status {proc.returncode}: {reason}")
    out = proc.stdout.strip()
    if not out:
        raise ProbeError("command printed nothing")
    return out
