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

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable

SIZE_UNITS = {1: "bytes", 1024: "KB", 1024 ** 2: "MB", 1024 ** 3: "GB", 1024 ** 4: "TB"}
DU_UNITS = {"k": "KB", "m": "MB", "g": "GB"}
NOOP_STAGES = (  # pipeline stages that only trim what the previous one printed
    ["tr", "-d", " "], ["tr", "-d", "' '"], ["tr", "-d", "[:space:]"], ["tr", "-d", "\\n"], ["xargs"],
    ["awk", "{print $1}"], ["awk", "{ print $1 }"], ["cut", "-f1"], ["cut", "-f", "1"], ["cut", "-d", " ", "-f1"],
)


@dataclass(frozen=True)
class Translation:
    kind: str                      # the typed kind, or "shell"
    params: dict = field(default_factory=dict)
    family: str | None = None      # the family that recognised it
    notes: tuple[str, ...] = ()    # what changed from the original's behaviour
    reason: str | None = None      # why it stays shell

    @property
    def translated(self) -> bool:
        return self.kind != "shell"


class NotThis(Exception):
    """Raised inside a family: the command is of this family but cannot be translated (the reason)."""


@dataclass
class Pipeline:
    stages: list[list[str]]   # argv of each stage, noise removed
    notes: list[str]          # what the cleaning changed


# --------------------------------------------------------------------------- the entry point

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


# --------------------------------------------------------------------------- cleaning the pipeline

def parse_pipeline(command: str) -> Pipeline:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise NotThis(f"cannot read the command: {exc}") from None
    notes: list[str] = []
    tokens = _drop_stderr_redirects(tokens)
    if "||" in tokens:
        at = tokens.index("||")
        fallback = tokens[at + 1:]
        if len(fallback) < 1 or fallback[0] != "echo" or "||" in fallback or "|" in fallback:
            raise NotThis("has a fallback command after `||`")
        notes.append(f"dropped `|| {' '.join(fallback)}`: a failure is an error, never {' '.join(fallback[1:]) or 'blank'}")
        tokens = tokens[:at]
    if "&&" in tokens:
        at = tokens.index("&&")
        guard = tokens[:at]
        if not (len(guard) == 4 and guard[0] == "[" and guard[1] in ("-d", "-f", "-e") and guard[3] == "]"):
            raise NotThis("chains commands with `&&`")
        notes.append(f"dropped the `[ {guard[1]} {guard[2]} ]` guard: a missing path is an error")
        tokens = tokens[at + 1:]
    stages: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    if any(not stage for stage in stages):
        raise NotThis("has an empty pipeline stage")
    while len(stages) > 1 and stages[-1] in NOOP_STAGES:
        stages.pop()
    for stage in stages:
        for token in stage:
            if token in (";", "&", ">", ">>", "<", "(", ")", "&&", "||") and not _find_exec_end(stage, token) \
                    and not (token == "<" and stage[:2] == ["wc", "-l"]):
                raise NotThis(f"uses the shell operator {token!r}")
    return Pipeline(stages, notes)


def _drop_stderr_redirects(tokens: list[str]) -> list[str]:
    """`2>/dev/null` and `2>&1` only hide errors; the typed probe reports them instead."""
    out, i = [], 0
    while i < len(tokens):
        if tokens[i] == "2" and i + 2 < len(tokens) and tokens[i + 1] == ">" and tokens[i + 2] == "/dev/null":
            i += 3
        elif tokens[i] == "2" and i + 2 < len(tokens) and tokens[i + 1] == ">&" and tokens[i + 2] == "1":
            i += 3
        else:
            out.append(tokens[i])
            i += 1
    return out


def _find_exec_end(stage: list[str], token: str) -> bool:
    """The `;` that ends `find … -exec cat {} \\;` is find's, not the shell's."""
    return token == ";" and stage[0] == "find" and "-exec" in stage


def _count_stage(stage: list[str]) -> bool:
    return stage in (["wc", "-l"], ["wc", "-l", "-"])


def _no_variables(*values: str) -> None:
    for value in values:
        if "$" in value or "`" in value:
            raise NotThis(f"{value!r} depends on a shell variable")


# --------------------------------------------------------------------------- S3 listings

def s3_location(uri: str) -> str:
    """`s3://b`, `s3://b/p` → `s3://b/`, `s3://b/p/`: the original meant the folder."""
    _no_variables(uri)
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


def _aws_s3_ls(p: Pipeline):
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
    if len(rest) == 1 and _count_stage(rest[0]):
        return "s3_object_count", params, notes
    if len(rest) == 1 and rest[0][:2] == ["grep", "-c"] and len(rest[0]) == 3:
        return "s3_object_count", dict(params, suffix=grep_suffix(rest[0][2])), notes
    if len(rest) == 2 and rest[0][0] == "grep" and len(rest[0]) == 2 and _count_stage(rest[1]):
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


def _s3api(p: Pipeline):
    """`aws s3api list-objects-v2 --bucket B [--prefix P] --query 'length(Contents)'|'sum(Contents[].Size)'`."""
    first = p.stages[0]
    if first[:3] != ["aws", "s3api", "list-objects-v2"] or len(p.stages) != 1:
        return None
    opts = _options(first[3:], ("--bucket", "--prefix", "--query", "--output"))
    if "--bucket" not in opts or "--query" not in opts:
        raise NotThis("aws s3api list-objects-v2 without --bucket or --query")
    _no_variables(opts["--bucket"], opts.get("--prefix", ""))
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


# --------------------------------------------------------------------------- python/boto3 one-liners

def _boto3(p: Pipeline):
    """`python3 -c "import boto3; …"` that counts objects, sums sizes (÷1024ⁿ), counts objects below a
    size, averages sizes, divides two counts, or gives the newest object's age in days or hours."""
    first = p.stages[0]
    if not (first[0] in ("python", "python3") and len(first) == 3 and first[1] == "-c"):
        return None
    if len(p.stages) != 1:
        raise NotThis("a python one-liner piped into another command")
    code = first[2]
    if "boto3" not in code:
        raise NotThis("a python one-liner that does not read S3 with boto3")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise NotThis(f"the python one-liner does not parse: {exc.msg}") from None
    return read_boto3(tree)


def read_boto3(tree: ast.Module):
    listings = _listing_calls(tree)
    if not listings:
        raise NotThis("no boto3 listing with a literal Bucket= in the one-liner")
    printed = _printed(tree)
    expr = _inline(printed, _assignments(tree))
    notes = ["lists every page of the location"]
    if not _paginated(tree):
        notes = ["lists every page, not the first 1,000 keys"]
    divisor = _size_divisor(expr)
    if _mentions(expr, "LastModified"):
        if _has_any(expr, ast.Add, ast.Mult) or _constants_other_than(expr, {1, 0, 24, 60, 3600, 86400}):
            raise NotThis("arithmetic on top of an age")
        kind = {"days": "s3_newest_age_days", "hours": "s3_newest_age_hours"}[_age_unit(expr)]
        notes.append("the newest object by LastModified, not the last key")
        return kind, _one_location(expr, listings), notes
    if _has_any(expr, ast.Add, ast.Sub) or _constants_other_than(expr, {0, 1, 100}):
        raise NotThis("arithmetic on top of a listing (e.g. a cost estimate): not one measure")

    ratio = _ratio(expr)
    if ratio is not None and not _mentions(expr, "Size"):
        scale, numerator, denominator = ratio
        params = dict(_one_location(numerator, listings))
        params.update({f"denominator_{k}": v for k, v in _one_location(denominator, listings).items()})
        if scale != 1:
            params["scale"] = scale
        return "s3_object_ratio", params, notes
    if ratio is not None and ratio[0] != 1:
        raise NotThis("a percentage of sizes")
    params = _one_location(expr, listings)
    below = _size_below(expr)
    if below is not None:
        if _is_average(expr):
            raise NotThis("divides a count of small objects by something")
        return "s3_small_object_count", dict(params, below_bytes=below), notes
    if _mentions(expr, "Size"):
        if divisor not in SIZE_UNITS:
            raise NotThis(f"sizes divided by {divisor}, not a power of 1024")
        kind = "s3_average_bytes" if _is_average(expr) else "s3_total_bytes"
        return kind, dict(params, unit=SIZE_UNITS[divisor]), notes
    if _has_any(expr, ast.Div, ast.Mult):
        raise NotThis("arithmetic on an object count")
    return "s3_object_count", params, notes


def _listing_calls(tree) -> list[tuple[ast.Call, dict]]:
    """Calls with a literal `Bucket=` (list_objects_v2, paginate): (node, {location, suffix?})."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            if "Bucket" in kw:
                bucket, prefix = _literal(kw["Bucket"]), _literal(kw.get("Prefix")) if "Prefix" in kw else ""
                if not isinstance(bucket, str) or not isinstance(prefix, str):
                    raise NotThis("Bucket=/Prefix= are not literal strings")
                out.append((node, {"location": s3_location(f"s3://{bucket}/{prefix}")}))
    return out


def _bucket_key(call: ast.Call) -> str:
    return repr(sorted((k.arg, ast.dump(k.value)) for k in call.keywords if k.arg in ("Bucket", "Prefix")))


def _literal(node):
    return node.value if isinstance(node, ast.Constant) else None


def _paginated(tree) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == "list_objects_v2" for n in ast.walk(tree)) or any(
        isinstance(n, ast.Attribute) and n.attr == "paginate" for n in ast.walk(tree))


def _printed(tree) -> ast.AST:
    prints = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id == "print"]
    if len(prints) != 1 or len(prints[0].args) != 1:
        raise NotThis("the one-liner does not print exactly one value")
    arg = prints[0].args[0]
    if isinstance(arg, ast.JoinedStr):  # print(f'{x:.2f}')
        values = [v.value for v in arg.values if isinstance(v, ast.FormattedValue)]
        if len(values) != 1 or any(isinstance(v, ast.Constant) and v.value.strip() for v in arg.values
                                   if isinstance(v, ast.Constant)):
            raise NotThis("prints text around the value")
        arg = values[0]
    return arg


def _assignments(tree) -> dict[str, ast.AST]:
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _inline(node: ast.AST, names: dict[str, ast.AST], depth: int = 0) -> ast.AST:
    """Replace variable names by what they were assigned (the one-liners chain a few)."""
    if depth > 20:
        raise NotThis("too many nested assignments")

    class Inliner(ast.NodeTransformer):
        def visit_Name(self, n):
            if n.id in names and isinstance(n.ctx, ast.Load):
                return _inline(names[n.id], {k: v for k, v in names.items() if k != n.id}, depth + 1)
            return n

    import copy

    return Inliner().visit(copy.deepcopy(node))


def _has_any(node, *ops) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ops) for n in ast.walk(node))


def _mentions(node, word: str) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == word for n in ast.walk(node)) or any(
        isinstance(n, ast.Attribute) and n.attr == word for n in ast.walk(node))


def _numbers(node, skip: set = frozenset()) -> list:
    """The numbers of the value, leaving out those of call keywords (`MaxKeys=1000`) and `skip`."""
    keyworded = {id(c) for k in ast.walk(node) if isinstance(k, ast.keyword) for c in ast.walk(k.value)}
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and type(n.value) in (int, float) and id(n) not in keyworded and id(n) not in skip]


def _constants_other_than(node, allowed: set) -> bool:
    """A number that is neither a size divisor, a time unit, a percentage, a size threshold nor a
    rounding precision (the only places numbers appear in the families)."""
    thresholds = {c.value for n in ast.walk(node) if isinstance(n, ast.Compare)
                  for c in ast.walk(n) if isinstance(c, ast.Constant)}
    rounding = {a.value for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "round" for a in n.args[1:] if isinstance(a, ast.Constant)}
    # The parts of a constant power of 1024 (`1024 ** 3`, `1024 * 1024`) are that divisor.
    in_divisor = {id(c) for n in ast.walk(node) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Pow, ast.Mult))
                  and isinstance(_const_value(n), int) and _is_power_of_1024(_const_value(n))
                  for c in ast.walk(n)}
    for value in _numbers(node, skip=in_divisor):
        if value in allowed or value in thresholds or value in rounding:
            continue
        if isinstance(value, int) and value > 1 and _is_power_of_1024(value):
            continue
        return True
    return False


def _is_power_of_1024(value: int) -> bool:
    while value % 1024 == 0 and value > 1:
        value //= 1024
    return value == 1


def _size_divisor(node) -> int:
    """The product of the powers of 1024 the value is divided by (`/1024/1024`, `/1024**3`, `/ 1e9` no)."""
    divisor = 1
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            value = _const_value(n.right)
            if isinstance(value, (int, float)) and value > 1 and float(value).is_integer() \
                    and _is_power_of_1024(int(value)):
                divisor *= int(value)
    return divisor


def _const_value(node):
    """A constant number or a constant expression of numbers (`1024 ** 3`, `1024 * 1024`)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.Mult)):
        left, right = _const_value(node.left), _const_value(node.right)
        if left is not None and right is not None:
            return left ** right if isinstance(node.op, ast.Pow) else left * right
    return None


def _age_unit(node) -> str:
    if _mentions(node, "days") or 86400 in _numbers(node) or 24 in _numbers(node):
        return "days"
    if 3600 in _numbers(node) or 60 in _numbers(node):
        return "hours"
    raise NotThis("an age that is neither in days nor in hours")


def _sources_in(node, listings) -> list[dict]:
    found = []
    for n in ast.walk(node):
        for call, params in listings:
            # By Bucket=/Prefix=: inlining rewrites the rest of the call (`paginator.paginate`).
            if isinstance(n, ast.Call) and _bucket_key(n) == _bucket_key(call) and params not in found:
                found.append(params)
    suffixes = _suffixes(node)
    if len(suffixes) > 1:
        raise NotThis("filters on more than one file ending")
    if suffixes and len(found) == 1:
        found = [dict(found[0], suffix=suffixes[0])]
    return found


def _suffixes(node) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "endswith":
            if len(n.args) != 1 or not isinstance(_literal(n.args[0]), str):
                raise NotThis("endswith() with something other than one literal ending")
            if n.args[0].value not in out:
                out.append(n.args[0].value)
    return out


def _one_location(node, listings) -> dict:
    sources = _sources_in(node, listings)
    distinct = {_bucket_key(call) for call, _ in listings}
    if not sources and len(distinct) == 1:
        # The value is built in a loop over the one listing of the one-liner (`for page in …`).
        sources = _sources_in(ast.Module(body=[ast.Expr(call) for call, _ in listings[:1]] + [ast.Expr(node)],
                                         type_ignores=[]), listings)
    if len(sources) != 1:
        raise NotThis(f"reads {len(sources)} listings where one was expected")
    return sources[0]


def _strip_wrappers(node):
    """round(x, 2), float(x), int(x) → x."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("round", "float", "int") \
            and node.args:
        node = node.args[0]
    return node


def _ratio(node):
    """`a / b`, `a / b * 100`, `100 * a / b` (round()/float() around any of them) → (scale, a, b);
    None when the value is not a division by something measured."""
    node, scale = _strip_wrappers(node), 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        scale, node = _scaled(node)
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)) or _const_value(node.right) is not None:
        return None
    numerator = _strip_wrappers(node.left)
    if isinstance(numerator, ast.BinOp) and isinstance(numerator.op, ast.Mult):
        more, numerator = _scaled(numerator)
        scale *= more
    return scale, numerator, node.right


def _scaled(node: ast.BinOp):
    for value, other in ((node.left, node.right), (node.right, node.left)):
        number = _const_value(value)
        if number is not None:
            return number, _strip_wrappers(other)
    raise NotThis("a product that is not a ratio times a constant")


def _size_below(node) -> int | None:
    """`o['Size'] < N` (or `<= N`, `N > o['Size']`) inside the value → N in bytes."""
    for n in ast.walk(node):
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and _mentions(n, "Size"):
            op, left, right = n.ops[0], n.left, n.comparators[0]
            if _const_value(right) is not None and _mentions(left, "Size"):
                limit = _const_value(right)
            elif _const_value(left) is not None and _mentions(right, "Size"):
                limit, op = _const_value(left), {ast.Gt: ast.Lt(), ast.GtE: ast.LtE()}.get(type(op), op)
            else:
                raise NotThis("compares sizes with something other than a number")
            if isinstance(op, ast.Lt):
                return int(limit) if float(limit).is_integer() else int(limit) + 1
            if isinstance(op, ast.LtE):
                return int(limit) + 1
            raise NotThis("counts objects above a size, not below")
    return None


def _is_average(node) -> bool:
    """sum(sizes) / len(…) or / a count: a division whose right side is not a constant."""
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and _const_value(n.right) is None:
            return True
    return any(isinstance(n, ast.Attribute) and n.attr == "mean" for n in ast.walk(node)) or any(
        isinstance(n, ast.Name) and n.id == "mean" for n in ast.walk(node))


# --------------------------------------------------------------------------- local files

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
    _no_variables(folder)
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
    _no_variables(pattern)
    base = folder.rstrip("/")
    if base not in (".", "") and pattern.startswith(base + "/"):
        return "./" + pattern[len(base) + 1:]
    return pattern


def _find_count(p: Pipeline):
    """`find DIR -name GLOB -type f | wc -l` (any order, with `-path`/`-not -path` filters)."""
    if p.stages[0][0] != "find" or "-exec" in p.stages[0]:
        return None
    find = _find_args(p.stages[0])
    if not (len(p.stages) == 2 and _count_stage(p.stages[1])):
        raise NotThis("find piped into something other than `wc -l`")
    if not find.type_f:
        raise NotThis("find without `-type f` counts folders too")
    return "file_count", find.params, []


def _find_cat(p: Pipeline):
    """`find DIR -name GLOB -exec cat {} \\; | wc -l` (and `-exec cat {} +`)."""
    if p.stages[0][0] != "find" or "-exec" not in p.stages[0]:
        return None
    find = _find_args(p.stages[0])
    if find.action not in (["-exec", "cat", "{}", ";"], ["-exec", "cat", "{}", "+"]):
        raise NotThis("find -exec with something other than `cat {} \\;`")
    if not (len(p.stages) == 2 and _count_stage(p.stages[1])):
        raise NotThis("find -exec cat piped into something other than `wc -l`")
    return "line_count", find.params, ["a last line without a newline counts (wc -l missed it)"]


def _wc_files(p: Pipeline):
    """`wc -l F1 F2 … | tail -1` (the total line), `wc -l F` and `cat F1 F2 | wc -l`."""
    first = p.stages[0]
    if first[:2] == ["wc", "-l"] and len(first) > 2:
        files = [f for f in first[2:] if f != "<"]
        rest = p.stages[1:]
        if len(files) > 1 and rest not in ([["tail", "-1"]], [["tail", "-n", "1"]], [["tail", "-n1"]]):
            raise NotThis("wc -l of several files without `| tail -1` prints one line per file")
        if len(files) == 1 and rest not in ([], [["tail", "-1"]]):
            raise NotThis("wc -l piped into something other than tail -1")
    elif first[0] == "cat" and len(first) > 1 and len(p.stages) == 2 and _count_stage(p.stages[1]):
        files = first[1:]
    else:
        return None
    if any(f.startswith("-") or any(c in f for c in "*?[") for f in files):
        raise NotThis("wc -l with options or a shell glob")
    _no_variables(*files)
    return "line_count", {"files": files}, ["a missing file is an error (wc -l skipped it)"]


def _du(p: Pipeline):
    """`du -sm DIR`, `du -sg DIR` (`-sk`, `-s -m`), first field."""
    first = p.stages[0]
    if first[0] != "du":
        return None
    flags = "".join(a[1:] for a in first[1:] if a.startswith("-") and not a.startswith("--"))
    folders = [a for a in first[1:] if not a.startswith("-")]
    if len(p.stages) != 1 or len(folders) != 1 or sorted(flags) not in (["g", "s"], ["m", "s"], ["k", "s"]):
        raise NotThis("du other than `du -sm|-sg|-sk DIR`")
    _no_variables(folders[0])
    unit = DU_UNITS[flags.replace("s", "")]
    return "dir_size", {"path": folders[0], "unit": unit}, [
        f"apparent size of the files in {unit} (du counted allocated blocks, rounded up)"]


def _git_log(p: Pipeline):
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
    _no_variables(repo, params.get("since", ""))
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
        if not ((counted and len(rest) == 1) or (not counted and len(rest) == 2 and _count_stage(rest[1]))):
            raise NotThis("git log | grep without a count")
        params["grep"] = words[0]
        if any("i" in f for f in flags):
            params["ignore_case"] = True
        notes.append("the pattern is matched against the whole commit message (git log --grep)")
        return "git_commit_count", params, notes
    if len(rest) == 1 and _count_stage(rest[0]):
        return "git_commit_count", params, notes
    raise NotThis("git log piped into something other than grep | wc -l")


# --------------------------------------------------------------------------- whole-command families

FILE_AGE = re.compile(
    r"""^(?:\[\s+-f\s+(?P<guard>\S+)\s+\]\s+&&\s+)?echo\s+\$\(\(\s*\(\s*\$\(date\s+\+%s\)\s*-\s*"""
    r"""\$\(stat\s+(?:-f\s+%m|-c\s+%Y)\s+(?P<file>[^\s$`;|&()]+)\)\s*\)\s*/\s*(?P<div>86400|3600)\s*\)\)"""
    r"""(?:\s*\|\|\s*echo\s+(?P<fallback>\S+))?\s*$""")


def _file_age(command: str):
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


FAMILIES: tuple[tuple[str, Callable[[Pipeline], tuple | None]], ...] = (
    ("aws s3 ls --recursive | wc -l", _aws_s3_ls),
    ("aws s3api list-objects-v2 --query", _s3api),
    ("python boto3 one-liner", _boto3),
    ("find -type f | wc -l", _find_count),
    ("find -exec cat {} \\; | wc -l", _find_cat),
    ("wc -l FILES | tail -1", _wc_files),
    ("du -sm|-sg DIR", _du),
    ("git log --oneline | grep | wc -l", _git_log),
)
RAW_FAMILIES: tuple[tuple[str, Callable[[str], tuple | None]], ...] = (
    ("file age from stat", _file_age),
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
