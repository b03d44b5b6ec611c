"""Family: `python3 -c "import boto3; …"` one-liners, read from their syntax tree (SPEC §11)."""
from __future__ import annotations

import ast

from adce_site.legacy_shell.pipeline import SIZE_UNITS, NotThis, Pipeline
from adce_site.legacy_shell.s3_listings import s3_location

def boto3_oneliner(p: Pipeline):
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
