"""Local file-system kinds: file_count, line_count, dir_size.

Paths are resolved at import time (relative to where import_metrics ran). Globs match the path
relative to `path` with `/` separators (`**/` = any depth, including none). Symlinked folders are not
followed (no loops, no double counting); a missing or unreadable folder is an error, never 0.
"""
from __future__ import annotations

import fnmatch
import os

from .base import UNITS, ParamError, ProbeError, check_keys, glob_regex, register, resolve_path, want_glob, want_unit


def _want_excludes(params: dict) -> None:
    """`exclude`: a glob or a list of globs (relative paths); a matching folder is not descended into."""
    if "exclude" not in params:
        return
    value = params["exclude"]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ParamError("exclude", "must be a glob or a non-empty list of globs")
    for i, glob in enumerate(values):
        want_glob({"exclude": glob}, "exclude")
    params["exclude"] = values


PATH_FILTERS = ("path_match", "path_not_match")


def _want_path_filters(params: dict) -> None:
    """`path_match` / `path_not_match`: find's `-path` / `-not -path` patterns (a string or a list).
    They are matched as find matches them when run in the folder itself: against `./` + the relative
    path, with `*` crossing `/` (so `*/test*` is any file below a folder whose name starts with test)."""
    for key in PATH_FILTERS:
        if key not in params:
            continue
        value = params[key]
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ParamError(key, "must be a find -path pattern or a non-empty list of them")
        params[key] = values


def _path_filter(params: dict):
    """A predicate on a relative path for the find -path filters (None: no filter)."""
    wanted, unwanted = params.get("path_match") or [], params.get("path_not_match") or []
    if not wanted and not unwanted:
        return None

    def keep(rel: str) -> bool:
        shown = "./" + rel
        return (all(fnmatch.fnmatchcase(shown, p) for p in wanted)
                and not any(fnmatch.fnmatchcase(shown, p) for p in unwanted))

    return keep


def validate_file_count(params, *, base_dir):
    check_keys(params, required=("path",), optional=("glob", "exclude", *PATH_FILTERS))
    out = dict(params, path=resolve_path(params, "path", base_dir))
    if "glob" in params:
        want_glob(params)
    _want_excludes(out)
    _want_path_filters(out)
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
    check_keys(params, required=("path", "glob"), optional=("exclude", *PATH_FILTERS))
    want_glob(params)
    out = dict(params, path=resolve_path(params, "path", base_dir))
    _want_excludes(out)
    _want_path_filters(out)
    return out


def validate_dir_size(params, *, base_dir):
    check_keys(params, required=("path",), optional=("unit", "glob", "exclude"))
    want_unit(params)
    if "glob" in params:
        want_glob(params)
    out = dict(params, path=resolve_path(params, "path", base_dir))
    _want_excludes(out)
    return out


def _walk(root: str, pattern: str | None, exclude: list[str] | None = None, keep=None):
    """Yield (absolute path, relative path) of the regular files under `root` matching `pattern`
    and none of the `exclude` globs (an excluded folder, e.g. `.venv`, is pruned, not walked), and
    passing `keep(relative path)` when given (the find -path filters)."""
    if not os.path.isdir(root):
        raise ProbeError(f"{root}: no such folder" if not os.path.exists(root) else f"{root}: not a folder")
    rx = glob_regex(pattern) if pattern else None
    excluded = [glob_regex(g) for g in exclude or ()]
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        if excluded:
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            prefix = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [d for d in dirnames if not any(x.match(prefix + d) for x in excluded)]
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rx is not None and not rx.match(rel):
                continue
            if excluded and any(x.match(rel) for x in excluded):
                continue
            if keep is not None and not keep(rel):
                continue
            if os.path.islink(full) and not os.path.isfile(full):
                continue  # dangling link: not a file
            yield full, rel
    if errors:
        # An unreadable sub-folder makes the number wrong: fail instead of under-counting.
        raise ProbeError(f"{root}: cannot read {errors[0].filename}: {errors[0].strerror}")


@register("file_count", validate=validate_file_count, parse_type="integer")
def file_count(params, ctx):
    return sum(1 for _ in _walk(params["path"], params.get("glob", "**/*"), params.get("exclude"), _path_filter(params)))


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
    return sum(_lines(full) for full, _ in _walk(params["path"], params["glob"], params.get("exclude"),
                                                 _path_filter(params)))


@register("dir_size", validate=validate_dir_size, parse_type="float")
def dir_size(params, ctx):
    total = 0
    for full, _ in _walk(params["path"], params.get("glob"), params.get("exclude")):
        try:
            total += os.stat(full).st_size  # apparent size
        except OSError as exc:
            raise ProbeError(f"{full}: {exc.strerror or exc}") from None
    unit = params.get("unit", "bytes")
    return total if unit == "bytes" else total / UNITS[unit]
