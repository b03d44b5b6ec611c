"""Local file-system kinds: file_count, line_count, dir_size.

Paths are resolved at import time (relative to where import_metrics ran). Globs match the path
relative to `path` with `/` separators (`**/` = any depth, including none). Symlinked folders are not
followed (no loops, no double counting); a missing or unreadable folder is an error, never 0.
"""
from __future__ import annotations

import os

from .base import UNITS, ParamError, ProbeError, check_keys, glob_regex, register, resolve_path, want_glob, want_unit


def validate_file_count(params, *, base_dir):
    check_keys(params, required=("path",), optional=("glob",))
    out = dict(params, path=resolve_path(params, "path", base_dir))
    if "glob" in params:
        want_glob(params)
    return out


def validate_line_count(params, *, base_dir):
    if "files" in params:
        check_keys(params, required=("files",))
        files = params["files"]
        if not isinstance(files, list) or not files or not all(isinstance(f, str) and f.strip() for f in files):
            raise ParamError("files", "must be a non-empty list of paths")
        return {"files": [resolve_path({"files": f}, "files", base_dir) for f in files]}
    if "path" not in params:
        raise ParamError("path", "required parameter is missing (give `path` + `glob`, or `files`)")
    check_keys(params, required=("path", "glob"))
    want_glob(params)
    return dict(params, path=resolve_path(params, "path", base_dir))


def validate_dir_size(params, *, base_dir):
    check_keys(params, required=("path",), optional=("unit", "glob"))
    want_unit(params)
    if "glob" in params:
        want_glob(params)
    return dict(params, path=resolve_path(params, "path", base_dir))


def _walk(root: str, pattern: str | None):
    """Yield (absolute path, relative path) of the regular files under `root` matching `pattern`."""
    if not os.path.isdir(root):
        raise ProbeError(f"{root}: no such folder" if not os.path.exists(root) else f"{root}: not a folder")
    rx = glob_regex(pattern) if pattern else None
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rx is not None and not rx.match(rel):
                continue
            if os.path.islink(full) and not os.path.isfile(full):
                continue  # dangling link: not a file
            yield full, rel
    if errors:
        # An unreadable sub-folder makes the number wrong: fail instead of under-counting.
        raise ProbeError(f"{root}: cannot read {errors[0].filename}: {errors[0].strerror}")


@register("file_count", validate=validate_file_count, parse_type="integer")
def file_count(params, ctx):
    return sum(1 for _ in _walk(params["path"], params.get("glob", "**/*")))


def _lines(path: str) -> int:
    """Text lines: newline characters, plus one for a last line without a trailing newline."""
    count, last = 0, b"\n"
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError as exc:
        raise ProbeError(f"{path}: {exc.strerror or exc}") from None
    return count + (0 if last == b"\n" else 1)


@register("line_count", validate=validate_line_count, parse_type="integer")
def line_count(params, ctx):
    if "files" in params:
        for path in params["files"]:
            if not os.path.isfile(path):
                raise ProbeError(f"{path}: no such file")
        return sum(_lines(path) for path in params["files"])
    return sum(_lines(full) for full, _ in _walk(params["path"], params["glob"]))


@register("dir_size", validate=validate_dir_size, parse_type="float")
def dir_size(params, ctx):
    total = 0
    for full, _ in _walk(params["path"], params.get("glob")):
        try:
            total += os.stat(full).st_size  # apparent size
        except OSError as exc:
            raise ProbeError(f"{full}: {exc.strerror or exc}") from None
    unit = params.get("unit", "bytes")
    return total if unit == "bytes" else total / UNITS[unit]
