"""Hostile YAML files against both importers (`import_metrics`, `import_coverage`): how long each
refusal takes and how much memory the command used (issue 15 item 6).

    python bench/yaml_refusals.py [--out DIR]

Each file is written to DIR, then `manage.py <importer> FILE` runs in a fresh process (SQLite in a
temporary folder); the bench prints the exit code, the last line of stderr, the wall time and the
child's peak RSS (wait4). A command still running after --timeout seconds is killed and reported so. tests/test_yaml_limits.py imports the generators below.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def big(size_mb: float) -> str:
    """A valid-looking metrics file of about `size_mb` MB (many metrics in one category)."""
    entry = "    m{i}: {{kind: file_count, path: /data/{i}, pattern: '*.json'}}\n"
    lines, total, i = ["metrics:\n", "  lake:\n"], 0, 0
    while total < size_mb * 1_000_000:
        line = entry.format(i=i)
        lines.append(line)
        total += len(line)
        i += 1
    return "".join(lines)


def deep_flow(levels: int) -> str:
    return "metrics: " + "[" * levels + "]" * levels + "\n"


def deep_block(levels: int) -> str:
    """Mappings nested by indentation, one space a level."""
    return "".join(" " * i + "a:\n" for i in range(levels)) + " " * levels + "b\n"


def deep_dashes(levels: int) -> str:
    return "metrics: \n  " + "- " * levels + "x\n"


def alias_bomb(levels: int = 9) -> str:
    """"Billion laughs": each level is a list of nine aliases of the previous one (9^levels nodes)."""
    out = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        out.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    out.append(f"metrics: *a{levels - 1}")
    return "\n".join(out) + "\n"


CASES = {
    "big-1.8MB.yaml": lambda: big(1.8),
    "big-18MB.yaml": lambda: big(18),
    "deep-flow-5000.yaml": lambda: deep_flow(5000),
    "deep-block-1000.yaml": lambda: deep_block(1000),
    "deep-dashes-5000.yaml": lambda: deep_dashes(5000),
    "alias-bomb.yaml": alias_bomb,
}


def run(importer: str, path: pathlib.Path, env: dict, timeout: float) -> tuple[int | str, str, float, float]:
    """(exit code or "killed", last stderr line, wall seconds, peak RSS in MB of that process)."""
    err_path = path.with_suffix(".stderr")
    with err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), importer, str(path)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        while True:  # wait4: this child's own resource usage (peak RSS), not all children's
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                return "killed", f"still running after {timeout:g} s", time.perf_counter() - t0, 0.0
            time.sleep(0.01)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    message = (err_path.read_text().strip().splitlines() or [""])[-1]
    return proc.returncode, message, wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="where to write the files (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a command is killed")
    args = parser.parse_args()
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="adce-yaml-"))
    out.mkdir(parents=True, exist_ok=True)
    var = tempfile.mkdtemp(prefix="adce-yaml-var-")
    env = {**os.environ, "ADCE_VAR_DIR": var, "DATABASE_URL": f"sqlite:///{var}/bench.sqlite3"}
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    print(f"{'file':<24} {'bytes':>11} {'importer':<16} {'exit':>6} {'wall s':>7} {'RSS MB':>7}  message")
    for name, make in CASES.items():
        path = out / name
        path.write_text(make())
        for importer in ("import_metrics", "import_coverage"):
            code, message, wall, rss = run(importer, path, env, args.timeout)
            print(f"{name:<24} {path.stat().st_size:>11,} {importer:<16} {code!s:>6} {wall:>7.2f} {rss:>7.0f}  "
                  f"{message[:100]}", flush=True)


if __name__ == "__main__":
    main()
