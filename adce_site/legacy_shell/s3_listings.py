"""Families: `aws s3 ls … | wc -l` and `aws s3api list-objects-v2 --query` (SPEC §11)."""
from __future__ import annotations

import re

from adce_site.legacy_shell.pipeline import SIZE_UNITS, NotThis, Pipeline, count_stage, no_variables

def s3_location(uri: str) -> str:
    """`s3://b`, `s3://b/p` → `s3://b/`, `s3://b/p/`: the original meant the folder."""
    no_variables(uri)
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise NotThis(f"{uri!r} is not an s3:// location")
    return uri if uri.endswith("/") else uri + "/"


def grep_suffix(pattern: str) -> str:
    """A grep pattern that names a file ending (`.json`, `\\.parquet$`, `json$`) → the suffix."""
    text = pattern[:-1] if pattern.endswith("$") else pattern
    text = text.replace("\\.", ".")
    if not text or re.search(r"[\\\[\]*+?^${}()|]", text):
        raise NotThis(f"grep pattern {pattern!r} is not a plain file ending")
    return text


def aws_s3_ls(p: Pipeline):
    """`aws s3 ls s3://B/P --recursive | wc -l`, `… | grep -c SUFFIX`, `… | grep SUFFIX | wc -l`,
    `… --summarize | grep 'Total Objects' | awk '{print $3}'` and `… | grep 'Total Size' | awk '{print $3/1024/1024/1024}'`."""
    first = p.stages[0]
    if first[:3] != ["aws", "s3", "ls"]:
        return None
    args = [a for a in first[3:] if a not in ("--recursive", "--summarize", "--human-readable")]
    uris = [a for a in args if a.startswith("s3://")]
    if len(uris) != 1 or len(args) != 1:
        raise NotThis(f"aws s3 ls with options ADCE does not translate: {' '.join(first[3:])}")
    if "--recursive" not in first:
        raise NotThis("aws s3 ls without --recursive counts one folder level (folders included)")
    if "--human-readable" in first:
        raise NotThis("aws s3 ls --human-readable prints rounded sizes")
    params = {"location": s3_location(uris[0])}
    notes = ["lists every page of the location"]
    rest = p.stages[1:]
    if len(rest) == 1 and count_stage(rest[0]):
        return "s3_object_count", params, notes
    if len(rest) == 1 and rest[0][:2] == ["grep", "-c"] and len(rest[0]) == 3:
        return "s3_object_count", dict(params, suffix=grep_suffix(rest[0][2])), notes
    if len(rest) == 2 and rest[0][0] == "grep" and len(rest[0]) == 2 and count_stage(rest[1]):
        return "s3_object_count", dict(params, suffix=grep_suffix(rest[0][1])), notes
    if len(rest) == 2 and rest[0] == ["grep", "Total Objects"] and rest[1][0] == "awk" and "--summarize" in first:
        if awk_print(rest[1], 3) == 1:
            return "s3_object_count", params, notes
    if len(rest) == 2 and rest[0] == ["grep", "Total Size"] and rest[1][0] == "awk" and "--summarize" in first:
        divisor = awk_print(rest[1], 3)
        if divisor in SIZE_UNITS:
            return "s3_total_bytes", dict(params, unit=SIZE_UNITS[divisor]), notes
    raise NotThis("aws s3 ls piped into something other than a count or the --summarize totals")


def awk_print(stage: list[str], field_no: int) -> int | None:
    """`awk '{print $N/1024/1024}'` (or `/1024^2`, `/1048576`) → the divisor; None if not that."""
    if len(stage) != 2:
        return None
    match = re.fullmatch(r"\{\s*print\s+\$%d((?:\s*/\s*[0-9^*]+)*)\s*\}" % field_no, stage[1])
    if not match:
        return None
    divisor = 1
    for part in re.findall(r"/\s*([0-9^*]+)", match.group(1)):
        divisor *= _int_power(part)
    return divisor


def _int_power(text: str) -> int:
    if "^" in text:
        base, exp = text.split("^", 1)
        return int(base) ** int(exp)
    if "**" in text:
        base, exp = text.split("**", 1)
        return int(base) ** int(exp)
    return int(text)


def s3api(p: Pipeline):
    """`aws s3api list-objects-v2 --bucket B [--prefix P] --query 'length(Contents)'|'sum(Contents[].Size)'`."""
    first = p.stages[0]
    if first[:3] != ["aws", "s3api", "list-objects-v2"] or len(p.stages) != 1:
        return None
    opts = _options(first[3:], ("--bucket", "--prefix", "--query", "--output"))
    if "--bucket" not in opts or "--query" not in opts:
        raise NotThis("aws s3api list-objects-v2 without --bucket or --query")
    no_variables(opts["--bucket"], opts.get("--prefix", ""))
    prefix = opts.get("--prefix", "")
    params = {"location": s3_location(f"s3://{opts['--bucket']}/{prefix}")}
    query = opts["--query"].replace(" ", "")
    notes = ["lists every page of the location"]
    if query in ("length(Contents)", "length(Contents[])", "KeyCount"):
        return "s3_object_count", params, notes
    if query in ("sum(Contents[].Size)", "sum(Contents[*].Size)"):
        return "s3_total_bytes", dict(params, unit="bytes"), notes
    raise NotThis(f"s3api query {opts['--query']!r} is not a count or a total size")


def _options(args: list[str], known: tuple[str, ...]) -> dict[str, str]:
    opts, i = {}, 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name not in known:
            raise NotThis(f"option {arg!r} is not translated")
        if not eq:
            if i + 1 >= len(args):
                raise NotThis(f"option {arg!r} has no value")
            value = args[i + 1]
            i += 1
        opts[name] = value
        i += 1
    return opts
