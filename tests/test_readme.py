from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    head = readme[:2500]
    assert "manage.py demo" in head
    assert TEST_COMMAND in head
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()
