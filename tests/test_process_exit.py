"""adce_site.process_exit: scan and reconcile end without the interpreter's teardown, keeping their exit
status, their output and the atexit handlers; every other command and every other way out is untouched."""
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from adce_site.process_exit import exit_status, run_command_line

ROOT = Path(__file__).resolve().parents[1]
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as usual


class Ending:
    """Fakes of the two process-ending calls, recording what they were asked to do."""

    def __init__(self):
        self.handlers_ran = 0
        self.status = None

    def run_exit_handlers(self):
        self.handlers_ran += 1

    def exit_now(self, status):
        self.status = status


def run(argv, execute):
    ending = Ending()
    run_command_line(argv, execute, run_exit_handlers=ending.run_exit_handlers, exit_now=ending.exit_now)
    return ending


def _raising(exc):
    def execute(argv):
        raise exc
    return execute


@pytest.mark.parametrize("command", ["scan", "reconcile"])
def test_a_data_command_that_returns_ends_with_status_0_after_the_exit_handlers(command):
    seen = []
    ending = run(["manage.py", command, "--json"], seen.append)
    assert seen == [["manage.py", command, "--json"]]
    assert (ending.handlers_ran, ending.status) == (1, 0)


@pytest.mark.parametrize("code, status", [(2, 2), (0, 0), (None, 0), (1, 1)])
def test_the_exit_status_of_a_system_exit_is_kept(code, status):
    ending = run(["manage.py", "scan"], _raising(SystemExit(code)))
    assert (ending.handlers_ran, ending.status) == (1, status)


def test_a_text_exit_code_is_printed_and_gives_1_as_python_does(capsys):
    ending = run(["manage.py", "reconcile"], _raising(SystemExit("reconcile: broken")))
    assert ending.status == 1
    assert capsys.readouterr().err == "reconcile: broken\n"
    assert exit_status(None) == 0 and exit_status(3) == 3


@pytest.mark.parametrize("argv", [["manage.py", "migrate"], ["manage.py", "verify"], ["manage.py"]])
def test_every_other_command_ends_the_usual_way(argv):
    ending = run(argv, lambda a: None)
    assert (ending.handlers_ran, ending.status) == (0, None)
    with pytest.raises(SystemExit) as raised:
        run(argv, _raising(SystemExit(2)))
    assert raised.value.code == 2


def test_an_error_or_an_interruption_takes_the_usual_way_out():
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        ending = Ending()
        with pytest.raises(type(exc)):
            run_command_line(["manage.py", "scan"], _raising(exc), run_exit_handlers=ending.run_exit_handlers,
                             exit_now=ending.exit_now)
        assert (ending.handlers_ran, ending.status) == (0, None)


def test_a_thread_still_working_makes_the_interpreter_wait_for_it_as_usual():
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=False)
    worker.start()
    try:
        ending = Ending()
        with pytest.raises(SystemExit) as raised:
            run_command_line(["manage.py", "scan"], _raising(SystemExit(2)),
                             run_exit_handlers=ending.run_exit_handlers, exit_now=ending.exit_now)
        assert raised.value.code == 2 and (ending.handlers_ran, ending.status) == (0, None)
    finally:
        release.set()
        worker.join()


PROGRAM = textwrap.dedent("""
    import atexit, sys
    from adce_site.process_exit import run_command_line

    class Finalised:
        def __del__(self):
            print("torn down", file=sys.stderr, flush=True)

    keep = Finalised()  # freed by the interpreter's teardown, which the fast exit skips
    atexit.register(lambda: print("handler", file=sys.stderr, flush=True))  # stdout: flushed by the exit alone

    def execute(argv):
        sys.stdout.write("output|")  # left in the buffer: the fast exit must flush it
        if argv[2:]:
            raise SystemExit(int(argv[2]))

    run_command_line(sys.argv[1:], execute)
""")


@pytest.mark.parametrize("args, status", [([], 0), (["2"], 2)])
def test_in_a_real_process_output_handlers_and_status_survive_and_teardown_is_skipped(args, status):
    done = subprocess.run([sys.executable, "-c", PROGRAM, "manage.py", "scan", *args], cwd=ROOT, env=BUFFERED,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (status, "output|", "handler\n")


def test_in_a_real_process_another_command_is_torn_down_as_usual():
    done = subprocess.run([sys.executable, "-c", PROGRAM, "manage.py", "migrate"], cwd=ROOT, env=BUFFERED,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "output|", "handler\ntorn down\n")


# --- issue 15: a lost or unreachable database is exit 2 with one line -------------------------------

@pytest.mark.parametrize("command", ["tasks", "scan", "verify"])
def test_a_lost_database_connection_is_exit_2_with_one_line(command, capsys):
    from django.db import OperationalError

    lost = OperationalError("server closed the connection unexpectedly\n\tThis probably means the server "
                            "terminated abnormally\n\tbefore or while processing the request.")
    ending = Ending()
    try:
        run_command_line(["manage.py", command], _raising(lost), run_exit_handlers=ending.run_exit_handlers,
                         exit_now=ending.exit_now)
        status = ending.status
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err == ("database error: server closed the connection unexpectedly This probably means the server "
                   "terminated abnormally before or while processing the request.\n")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", [["tasks", "list"], ["scan"], ["import_coverage", "/work/shared/reference/data_inventory.example.yaml"],
                                  ["tasks", "claim", "--scraper", "x"]])
def test_in_a_real_process_an_unreachable_database_is_exit_2_with_one_line(args, tmp_path):
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_closed_port()}/adce_gone",
           "ADCE_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("database error: ") and "Traceback" not in done.stderr
    assert "refused" in lines[0] or "failed" in lines[0]
