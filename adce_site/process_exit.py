"""How `manage.py` ends: the data commands skip the interpreter's teardown.

At the end of a scan or a reconcile of a million objects, Python's own finalisation (module teardown,
then every remaining object freed one by one, Arrow's memory pools last) takes 0.2–0.25 s on this
project's 2-core machine, for memory the operating system takes back at once when the process ends.
For those commands, and only when it is safe, `manage.py` ends like this instead:

1. the command has returned, or raised SystemExit (CommandError's exit 2 included): any other
   exception, KeyboardInterrupt included, takes the usual way out;
2. no other non-daemon thread is alive (else the interpreter must wait for it, as usual);
3. the atexit handlers run, as at a normal exit (logging is flushed and closed there);
4. stdout and stderr are flushed, then `os._exit` with the exit status Python would have given.

Django has already closed the database connections: `BaseCommand.run_from_argv` does it before
returning (on SQLite, that close is where the last connection checkpoints its WAL).

Every command: a database that cannot be reached or a connection lost mid-command (Django's
OperationalError / InterfaceError) ends with exit 2 and one line on stderr, like an S3 fault, instead
of exit 1 and a traceback. Whatever the command was writing is rolled back by the database itself.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Sequence

# The commands that end holding millions of objects (docs/operations.md).
FAST_EXIT_COMMANDS = frozenset({"scan", "reconcile"})


def run_command_line(argv: Sequence[str], execute: Callable[[list[str]], None] | None = None, *,
                     run_exit_handlers: Callable[[], None] = atexit._run_exitfuncs,
                     exit_now: Callable[[int], None] = os._exit) -> None:
    """`execute(argv)` (Django's execute_from_command_line by default), ended per the module docstring.
    (`run_exit_handlers` and `exit_now` are parameters for the tests, which must not end pytest.)"""
    if execute is None:
        from django.core.management import execute_from_command_line as execute
    execute = _database_errors_exit_2(execute)
    argv = list(argv)
    if len(argv) < 2 or argv[1] not in FAST_EXIT_COMMANDS:
        execute(argv)
        return
    try:
        execute(argv)
        code = None
    except SystemExit as exc:
        code = exc.code
    if _other_threads_running():
        sys.exit(code)
    status = exit_status(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
            pass
    exit_now(status)


def _database_errors_exit_2(execute: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    def run(argv: list[str]) -> None:
        from django.db import InterfaceError, OperationalError

        try:
            execute(argv)
        except (OperationalError, InterfaceError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            print(f"database error: {reason[:500]}", file=sys.stderr)
            raise SystemExit(2) from None
    return run


def exit_status(code) -> int:
    """The status `sys.exit(code)` gives the process; like Python, a non-integer code is printed
    on stderr and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _other_threads_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())
