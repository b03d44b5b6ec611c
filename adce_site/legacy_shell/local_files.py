"""Families over local files and git: find, wc -l, du, git log, a file's age (SPEC §11)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from adce_site.legacy_shell.pipeline import DU_UNITS, NotThis, Pipeline, count_stage, no_variables

@dataclass
class FindCommand:
    params: dict          # path, glob, path_match, path_not_match
    type_f: bool          # `-type f` was given
    action: list[str]     # what follows the tests (`-exec cat {} ;`), empty for a plain listing


def _find_args(stage: list[str]) -> FindCommand:
    """`find DIR [-maxdepth 1] [-type f] -name GLOB [-path P] [-not -path P] [-exec …]`."""
    if len(stage) < 2 or stage[1].startswith("-"):
        raise NotThis("find without a folder")
    folder, args = stage[1], stage[2:]
    no_variables(folder)
    params: dict = {"path": folder}
    name, depth, type_f, i = None, None, False, 0
    wanted, unwanted = [], []
    while i < len(args):
        arg = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg == "-type" and nxt == "f":
            type_f = True
            i += 2
        elif arg == "-name" and nxt is not None and name is None:
            name = nxt
            i += 2
        elif arg == "-path" and nxt is not None:
            wanted.append(nxt)
            i += 2
        elif arg in ("-not", "!") and nxt == "-path" and i + 2 < len(args):
            unwanted.append(args[i + 2])
            i += 3
        elif arg == "-maxdepth" and nxt == "1" and depth is None:
            depth = 1
            i += 2
        elif arg == "-exec":
            break
        else:
            raise NotThis(f"find option {arg!r} is not translated")
    glob_name = name or "*"
    params["glob"] = glob_name if depth == 1 else "**/" + glob_name
    for patterns, key in ((wanted, "path_match"), (unwanted, "path_not_match")):
        if patterns:
            params[key] = [_relative_find_path(p, folder) for p in patterns]
    return FindCommand(params, type_f, args[i:])


def _relative_find_path(pattern: str, folder: str) -> str:
    """A -path pattern as find sees it from inside the folder: `DIR/x/*` → `./x/*` (ADCE matches
    `./` + the relative path)."""
    no_variables(pattern)
    base = folder.rstrip("/")
    if base not in (".", "") and pattern.startswith(base + "/"):
        return "./" + pattern[len(base) + 1:]
    return pattern


def find_count(p: Pipeline):
    """`find DIR -name GLOB -type f | wc -l` (any order, with `-path`/`-not -path` filters)."""
    if p.stages[0][0] != "find" or "-exec" in p.stages[0]:
        return None
    find = _find_args(p.stages[0])
    if not (len(p.stages) == 2 and count_stage(p.stages[1])):
        raise NotThis("find piped into something other than `wc -l`")
    if not find.type_f:
        raise NotThis("find without `-type f` counts folders too")
    return "file_count", find.params, []


def find_cat(p: Pipeline):
    """`find DIR -name GLOB -exec cat {} \\; | wc -l` (and `-exec cat {} +`)."""
    if p.stages[0][0] != "find" or "-exec" not in p.stages[0]:
        return None
    find = _find_args(p.stages[0])
    if find.action not in (["-exec", "cat", "{}", ";"], ["-exec", "cat", "{}", "+"]):
        raise NotThis("find -exec with something other than `cat {} \\;`")
    if not (len(p.stages) == 2 and count_stage(p.stages[1])):
        raise NotThis("find -exec cat piped into something other than `wc -l`")
    return "line_count", find.params, ["a last line without a newline counts (wc -l missed it)"]


def wc_files(p: Pipeline):
    """`wc -l F1 F2 … | tail -1` (the total line), `wc -l F` and `cat F1 F2 | wc -l`."""
    first = p.stages[0]
    if first[:2] == ["wc", "-l"] and len(first) > 2:
        files = [f for f in first[2:] if f != "<"]
        rest = p.stages[1:]
        if len(files) > 1 and rest not in ([["tail", "-1"]], [["tail", "-n", "1"]], [["tail", "-n1"]]):
            raise NotThis("wc -l of several files without `| tail -1` prints one line per file")
        if len(files) == 1 and rest not in ([], [["tail", "-1"]]):
            raise NotThis("wc -l piped into something other than tail -1")
    elif first[0] == "cat" and len(first) > 1 and len(p.stages) == 2 and count_stage(p.stages[1]):
        files = first[1:]
    else:
        return None
    if any(f.startswith("-") or any(c in f for c in "*?[") for f in files):
        raise NotThis("wc -l with options or a shell glob")
    no_variables(*files)
    return "line_count", {"files": files}, ["a missing file is an error (wc -l skipped it)"]


def du(p: Pipeline):
    """`du -sm DIR`, `du -sg DIR` (`-sk`, `-s -m`), first field."""
    first = p.stages[0]
    if first[0] != "du":
        return None
    flags = "".join(a[1:] for a in first[1:] if a.startswith("-") and not a.startswith("--"))
    folders = [a for a in first[1:] if not a.startswith("-")]
    if len(p.stages) != 1 or len(folders) != 1 or sorted(flags) not in (["g", "s"], ["m", "s"], ["k", "s"]):
        raise NotThis("du other than `du -sm|-sg|-sk DIR`")
    no_variables(folders[0])
    unit = DU_UNITS[flags.replace("s", "")]
    return "dir_size", {"path": folders[0], "unit": unit}, [
        f"apparent size of the files in {unit} (du counted allocated blocks, rounded up)"]


def git_log(p: Pipeline):
    """`git log [--since=D] --oneline [--all] | grep -i X | wc -l` (or `grep -ic X`, or no grep),
    and `git rev-list --count [--since=D] [--all|HEAD]`."""
    first = p.stages[0]
    repo = "."
    if first[:2] == ["git", "-C"] and len(first) > 3:
        repo, first = first[2], ["git"] + first[3:]
    if first[:2] not in (["git", "log"], ["git", "rev-list"]):
        return None
    params: dict = {"repo": repo}
    args, i = first[2:], 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in ("--since", "--after") and (eq or i + 1 < len(args)):
            if not eq:
                value, i = args[i + 1], i + 1
            params["since"] = value
        elif arg == "--all":
            params["all_branches"] = True
        elif arg in ("--oneline", "--count") or (arg == "HEAD" and first[1] == "rev-list"):
            pass
        else:
            raise NotThis(f"git option {arg!r} is not translated")
        i += 1
    if "since" in params and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", params["since"]):
        raise NotThis(f"--since {params['since']!r} is not a YYYY-MM-DD date (relative dates move)")
    no_variables(repo, params.get("since", ""))
    rest = p.stages[1:]
    notes = []
    if first[1] == "rev-list":
        if rest or "--count" not in args:
            raise NotThis("git rev-list other than `--count`")
        return "git_commit_count", params, notes
    if "--oneline" not in args:
        raise NotThis("git log without --oneline prints several lines per commit")
    if rest and rest[0][0] == "grep":
        grep = rest[0][1:]
        flags = [g for g in grep if g.startswith("-")]
        words = [g for g in grep if not g.startswith("-")]
        allowed = {"-i", "-c", "-ic", "-ci"}
        if len(words) != 1 or any(f not in allowed for f in flags):
            raise NotThis(f"grep {' '.join(grep)} is not translated")
        counted = any("c" in f for f in flags)
        if not ((counted and len(rest) == 1) or (not counted and len(rest) == 2 and count_stage(rest[1]))):
            raise NotThis("git log | grep without a count")
        params["grep"] = words[0]
        if any("i" in f for f in flags):
            params["ignore_case"] = True
        notes.append("the pattern is matched against the whole commit message (git log --grep)")
        return "git_commit_count", params, notes
    if len(rest) == 1 and count_stage(rest[0]):
        return "git_commit_count", params, notes
    raise NotThis("git log piped into something other than grep | wc -l")


# --------------------------------------------------------------------------- whole-command families

FILE_AGE = re.compile(
    r"""^(?:\[\s+-f\s+(?P<guard>\S+)\s+\]\s+&&\s+)?echo\s+\$\(\(\s*\(\s*\$\(date\s+\+%s\)\s*-\s*"""
    r"""\$\(stat\s+(?:-f\s+%m|-c\s+%Y)\s+(?P<file>[^\s$`;|&()]+)\)\s*\)\s*/\s*(?P<div>86400|3600)\s*\)\)"""
    r"""(?:\s*\|\|\s*echo\s+(?P<fallback>\S+))?\s*$""")


def file_age(command: str):
    """`[ -f F ] && echo $(( ($(date +%s) - $(stat -f %m F)) / 86400 )) || echo 999`: the age of one
    file in days (or hours), as the newest-age of its folder restricted to that file name."""
    match = FILE_AGE.match(command.strip())
    if not match:
        return None
    path = match.group("file")
    folder, _, name = path.rpartition("/")
    if any(c in name for c in "*?[") or not name:
        return None
    kind = "s3_newest_age_days" if match.group("div") == "86400" else "s3_newest_age_hours"
    params = {"location": f"file://{folder or '.'}/", "glob": name}
    notes = ["a missing file is an error"]
    if match.group("fallback"):
        notes.insert(0, f"dropped `|| echo {match.group('fallback')}`: a failure is an error")
    return kind, params, notes
