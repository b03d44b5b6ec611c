"""expression: safe arithmetic over other metrics."""
import pytest

from metrics.probes import REGISTRY, ProbeContext, ProbeError
from metrics.probes.base import ParamError
from metrics.probes.expression import dependencies, parse


def run(expression, values, errors=None):
    ctx = ProbeContext()
    ctx.values.update(values)
    ctx.errors.update(errors or {})
    return REGISTRY["expression"].func({"expression": expression}, ctx)


def test_arithmetic_and_names():
    assert run("a.x / a.y * 100", {"a.x": 50, "a.y": 200}) == 25.0
    assert run("(a.x + 2) * -a.y - 1.5", {"a.x": 1, "a.y": 2}) == -7.5


def test_dependencies_in_order():
    assert dependencies({"expression": "b.y + a.x * b.y"}) == ["b.y", "a.x"]


def test_division_by_zero_is_an_error():
    with pytest.raises(ProbeError, match="division by zero"):
        run("a.x / a.y", {"a.x": 1, "a.y": 0})


def test_failed_dependency_is_an_error():
    with pytest.raises(ProbeError, match="a.y failed: boom"):
        run("a.x / a.y", {"a.x": 1}, {"a.y": "boom"})


def test_non_numeric_dependency_is_an_error():
    with pytest.raises(ProbeError, match="not numeric"):
        run("a.x + 1", {"a.x": "text"})


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')", "a.x ** 2", "a.x if a.y else 1", "abc", "a.b.c", "open('f')",
    "a.x // 2", "'s' + a.x", "a.x +", "[a.x]",
])
def test_refused(expression):
    with pytest.raises(ValueError):
        parse(expression)
    with pytest.raises(ParamError):
        REGISTRY["expression"].validate({"expression": expression}, base_dir="/")
