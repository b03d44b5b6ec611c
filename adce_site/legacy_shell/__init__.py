"""Translate the original's shell `command:` strings into typed metric kinds (SPEC §11).

`translate(command)` is pure: a command string in, a `Translation` out — either a typed kind with its
parameters, or `shell` with the reason it was not recognised. Nothing runs and nothing is read.

How it works: the command is cut into a pipeline (`shlex`), the original's noise is removed — `2>/dev/null`,
`| tr -d ' '`, `| awk '{print $1}'`, a `[ -d DIR ] &&` guard and a trailing `|| echo 0` (the bug §11 fixes:
a failure becomes an error instead of a fake 0) — and then each family of `FAMILIES` is tried in turn.
A family is one function that recognises one kind of one-liner and returns the typed definition. Commands
that are known not to translate (`psql`, other AWS APIs, scripts, arithmetic over several commands) get a
specific reason from `NOT_TRANSLATED`.

The translations fix the original's bugs by construction: every S3 page is listed (not 1,000 keys), the
newest object is taken by LastModified (not the key-sorted last line), and no fallback value survives.
"""
from __future__ import annotations

import re
from typing import Callable

from adce_site.legacy_shell.boto3_oneliners import boto3_oneliner
from adce_site.legacy_shell.local_files import du, file_age, find_cat, find_count, git_log, wc_files
from adce_site.legacy_shell.pipeline import NotThis, Pipeline, Translation, parse_pipeline
from adce_site.legacy_shell.s3_listings import aws_s3_ls, s3api



def translate(command: str) -> Translation:
    """The typed definition `command` meant, or `shell` with the reason."""
    if not isinstance(command, str) or not command.strip():
        return Translation("shell", reason="empty command")
    for family, recognise in RAW_FAMILIES:
        typed = recognise(command)
        if typed is not None:
            kind, params, notes = typed
            return Translation(kind, params, family, tuple(notes))
    for pattern, reason in NOT_TRANSLATED:
        if re.search(pattern, command):
            return Translation("shell", reason=reason)
    try:
        pipeline = parse_pipeline(command)
    except NotThis as exc:
        return Translation("shell", reason=str(exc))
    for family, recognise in FAMILIES:
        try:
            typed = recognise(pipeline)
        except NotThis as exc:
            return Translation("shell", family=family, reason=str(exc))
        if typed is not None:
            kind, params, notes = typed
            return Translation(kind, params, family, tuple(pipeline.notes + notes))
    return Translation("shell", reason="matches no known one-liner family (see docs/migration.md)")


FAMILIES: tuple[tuple[str, Callable[[Pipeline], tuple | None]], ...] = (
    ("aws s3 ls --recursive | wc -l", aws_s3_ls),
    ("aws s3api list-objects-v2 --query", s3api),
    ("python boto3 one-liner", boto3_oneliner),
    ("find -type f | wc -l", find_count),
    ("find -exec cat {} \\; | wc -l", find_cat),
    ("wc -l FILES | tail -1", wc_files),
    ("du -sm|-sg DIR", du),
    ("git log --oneline | grep | wc -l", git_log),
)
RAW_FAMILIES: tuple[tuple[str, Callable[[str], tuple | None]], ...] = (
    ("file age from stat", file_age),
)
# Recognisable commands that do not translate, with the reason given to the operator.
NOT_TRANSLATED: tuple[tuple[str, str], ...] = (
    (r"\bpsql\b", "a psql query: ADCE cannot know which database it meant — define a `sql_scalar` with a "
                  "DATABASES alias"),
    (r"\baws\s+(?!s3\b|s3api\s+list-objects)", "an AWS API other than an S3 listing (no typed kind)"),
    (r"\baws\s+s3\s+ls\b.*>\s*/dev/null\s*(?:2>&1\s*)?&&\s*echo", "an accessibility check printing text: "
     "use `s3_object_count` on the location (an unreachable bucket is an error)"),
    (r"\$\(\(.*\$\(", "arithmetic over several commands: split it into typed metrics and an `expression`"),
    (r"(?:^|\s)(?:bash|sh|source|\.)\s+\S+\.sh\b|^\S+\.sh\b", "runs a script: ADCE cannot see what it measures"),
    (r"""\bgrep\s+-c\s+('[^']*'|"[^"]*"|\S+)\s+(?!2>)[\w~./-]+""", "counts matching lines inside a file (no typed kind)"),
)


# --------------------------------------------------------------------------- a whole config document

SHELL_ONLY_KEYS = ("command", "cwd", "timeout_seconds")


def translate_document(doc: dict, *, base_dir, allow_shell: bool, report: list) -> dict:
    """The original's config document with each recognised `command:` replaced by its typed kind.

    Everything else of a metric (parse_type, precision, category/volatility, critical, enabled,
    description, ttl_hours) is kept. A command that stays shell is imported disabled unless
    `allow_shell`. One entry per metric is appended to `report` (in file order). Pure: translated
    parameters are checked with the kind's validator, which does no I/O; a translation that fails it
    stays shell with that reason."""
    from metrics.probes import REGISTRY
    from metrics.probes.base import ParamError

    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    if not isinstance(metrics, dict):
        return doc  # the loader reports what is wrong with it
    out = dict(doc, metrics={})
    for category, entries in metrics.items():
        if not isinstance(entries, dict):
            out["metrics"][category] = entries
            continue
        out["metrics"][category] = new_entries = {}
        for name, body in entries.items():
            new_entries[name] = body
            if not isinstance(body, dict):
                continue
            entry = {"metric": f"{category}.{name}", "command": None, "status": "typed", "kind": body.get("kind"),
                     "params": None, "family": None, "notes": [], "reason": None,
                     "enabled": body.get("enabled", True)}
            report.append(entry)
            if "kind" in body or not isinstance(body.get("command"), str):
                entry["reason"] = "already a typed kind" if "kind" in body else None
                continue
            entry["command"] = body["command"]
            try:
                result = translate(body["command"])
            except Exception as exc:  # a translator bug must not block the import: the command stays shell
                result = Translation("shell", reason=f"not translated ({type(exc).__name__}: {exc})")
            kept = {k: v for k, v in body.items() if k not in SHELL_ONLY_KEYS}
            if result.translated:
                try:
                    entry["params"] = REGISTRY[result.kind].validate(dict(result.params), base_dir=base_dir)
                except ParamError as exc:
                    result = Translation("shell", family=result.family,
                                         reason=f"translated to {result.kind}, but {exc.key}: {exc.problem}")
            entry.update(family=result.family, notes=list(result.notes), kind=result.kind)
            if result.translated:
                entry["status"] = "translated"
                new_entries[name] = dict(kept, kind=result.kind, **result.params)
                continue
            entry.update(status="shell", reason=result.reason, params={"command": body["command"]})
            if not allow_shell and body.get("enabled", True) is not False:
                new_entries[name] = dict(body, enabled=False)
                entry["enabled"] = False
                entry["reason"] += " (imported disabled: ADCE_ALLOW_SHELL_PROBES is off)"
    return out
