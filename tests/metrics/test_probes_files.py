"""file_count, line_count, dir_size over a temporary tree."""
import pytest

from metrics.probes import REGISTRY, ProbeContext, ProbeError
from metrics.probes.base import ParamError


def run(kind, base_dir, **params):
    probe = REGISTRY[kind]
    return probe.func(probe.validate(params, base_dir=base_dir), ProbeContext())


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("one\ntwo\nthree\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("x\ny")           # no trailing newline: 2 lines
    (tmp_path / "pkg" / "sub" / "c.txt").write_bytes(b"z" * 1024)
    (tmp_path / "pkg" / "empty.py").write_text("")
    return tmp_path


def test_file_count_globs(tree):
    assert run("file_count", tree, path="pkg") == 4                    # default **/*
    assert run("file_count", tree, path="pkg", glob="**/*.py") == 3    # includes top level
    assert run("file_count", tree, path="pkg", glob="*.py") == 2
    assert run("file_count", tree, path="pkg", glob="sub/*") == 2
    assert run("file_count", tree, path=str(tree / "pkg"), glob="**/*.md") == 0  # folder exists: a real 0


def test_exclude_prunes_folders_like_a_virtualenv(tree):
    (tree / "pkg" / ".venv" / "lib").mkdir(parents=True)
    (tree / "pkg" / ".venv" / "lib" / "site.py").write_text("import os\n")
    assert run("file_count", tree, path="pkg", glob="**/*.py") == 4
    assert run("file_count", tree, path="pkg", glob="**/*.py", exclude=".venv") == 3
    assert run("file_count", tree, path="pkg", glob="**/*.py", exclude=["**/.venv", "sub"]) == 2
    assert run("file_count", tree, path="pkg", exclude="**/*.txt") == 4
    assert run("line_count", tree, path="pkg", glob="**/*.py", exclude=[".venv"]) == 5
    assert run("dir_size", tree, path="pkg", exclude=[".venv", "sub/*.txt"]) == 14 + 3


def test_line_count(tree):
    assert run("line_count", tree, path="pkg", glob="**/*.py") == 5
    assert run("line_count", tree, files=["pkg/a.py", "pkg/sub/b.py"]) == 5


def test_dir_size_units(tree):
    total = 14 + 3 + 1024
    assert run("dir_size", tree, path="pkg") == total
    assert run("dir_size", tree, path="pkg", unit="KB") == pytest.approx(total / 1024)
    assert run("dir_size", tree, path="pkg", glob="**/*.txt", unit="KB") == 1.0


def test_missing_folder_and_file_are_errors(tree):
    with pytest.raises(ProbeError, match="no such folder"):
        run("file_count", tree, path="absent")
    with pytest.raises(ProbeError, match="not a folder"):
        run("dir_size", tree, path="pkg/a.py")
    with pytest.raises(ProbeError, match="no such file"):
        run("line_count", tree, files=["pkg/a.py", "pkg/nope.py"])


def test_relative_paths_resolve_against_base_dir(tree):
    params = REGISTRY["file_count"].validate({"path": "pkg/../pkg"}, base_dir=tree)
    assert params["path"] == str(tree / "pkg")


@pytest.mark.parametrize("kind,params,key", [
    ("file_count", {}, "path"),
    ("file_count", {"path": "."}, None),
    ("line_count", {"path": "."}, "glob"),
    ("line_count", {"files": "a.py"}, "files"),
    ("dir_size", {"path": ".", "unit": "kb"}, "unit"),
    ("file_count", {"path": ".", "exclude": []}, "exclude"),
    ("file_count", {"path": ".", "exclude": [3]}, "exclude"),
])
def test_validation(kind, params, key, tmp_path):
    if key is None:
        REGISTRY[kind].validate(params, base_dir=tmp_path)
        return
    with pytest.raises(ParamError) as exc:
        REGISTRY[kind].validate(params, base_dir=tmp_path)
    assert exc.value.key == key


def test_find_path_filters(tmp_path):
    """`path_match` / `path_not_match` behave as find's -path / -not -path run inside the folder."""
    for rel in ("tests/test_a.py", "tests/unit/test_b.py", "src/testing_c.py", "src/d.py", ".venv/lib/e.py",
                "f.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1\n2\n")
    assert run("file_count", tmp_path, path=".", glob="**/*.py", path_match="*/test*") == 3
    assert run("file_count", tmp_path, path=".", glob="**/*.py", path_not_match=["./.venv/*"]) == 5
    assert run("file_count", tmp_path, path=".", glob="**/*.py", path_match="./src/*",
               path_not_match="*/testing*") == 1
    assert run("line_count", tmp_path, path=".", glob="**/*.py", path_match="*/test*") == 6
    # find itself agrees
    import subprocess

    out = subprocess.run("find . -path '*/test*' -name '*.py' -type f | wc -l", shell=True, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert int(out) == 3


def test_find_path_filters_are_checked(tmp_path):
    with pytest.raises(ParamError) as info:
        REGISTRY["file_count"].validate({"path": ".", "path_match": []}, base_dir=tmp_path)
    assert info.value.key == "path_match"
    with pytest.raises(ParamError) as info:
        REGISTRY["line_count"].validate({"path": ".", "glob": "*", "path_not_match": [3]}, base_dir=tmp_path)
    assert info.value.key == "path_not_match"
