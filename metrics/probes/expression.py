"""`expression`: arithmetic over other metrics by dotted name (`a.b / c.d * 100`).

Parsed with `ast` and evaluated by walking the tree: numbers, dotted names, + - * /, unary minus and
parentheses — nothing else can run. Dependencies are measured first in the same run."""
from __future__ import annotations

import ast
import operator

from .base import ParamError, ProbeError, check_keys, register, want_str

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def parse(expression: str) -> tuple[ast.AST, list[str]]:
    """The checked tree and the dotted metric names it references (ValueError when not allowed)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"invalid expression {expression!r}: {exc.msg}") from None
    names: list[str] = []

    def check(node):
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            check(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        elif isinstance(node, (ast.Attribute, ast.Name)):
            name = _dotted(node)
            if name is None or name.count(".") != 1:
                raise ValueError(f"{ast.unparse(node)!r} is not a metric name (expected category.name)")
            if name not in names:
                names.append(name)
        else:
            raise ValueError(f"{ast.unparse(node)!r} is not allowed (only numbers, metric names, + - * / and parentheses)")

    check(tree)
    return tree, names


def validate(params, *, base_dir):
    check_keys(params, required=("expression",))
    try:
        parse(want_str(params, "expression"))
    except ValueError as exc:
        raise ParamError("expression", str(exc)) from None
    return dict(params)


def dependencies(params) -> list[str]:
    return parse(params["expression"])[1]


def evaluate(tree, values: dict):
    def ev(node):
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ProbeError(f"division by zero in {ast.unparse(node)!r}")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Constant):
            return node.value
        return values[_dotted(node)]

    return ev(tree)


@register("expression", validate=validate, parse_type="float", dependencies=dependencies)
def expression(params, ctx):
    try:
        tree, names = parse(params["expression"])
    except ValueError as exc:
        raise ProbeError(str(exc)) from None
    values = {}
    for name in names:
        if name in ctx.errors:
            raise ProbeError(f"{name} failed: {ctx.errors[name]}")
        if name not in ctx.values:
            raise ProbeError(f"{name} has no value in this run")
        value = ctx.values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProbeError(f"{name} is not numeric ({value!r})")
        values[name] = value
    return evaluate(tree, values)
