"""`manage.py qcluster` ends within ADCE_Q_STOP_SECONDS of SIGTERM/SIGINT, even when the database hangs.

django-q2 stops its cluster in order: the pusher, then each worker after its current task, then the
monitor, waiting as long as each takes. When the database stops answering (a network partition, a
stalled server) the pusher and the workers sit in a query that never returns, and the cluster never
exits — a restart or deploy hangs (measured: still running 60 s after SIGTERM, killed by hand).

So, when qcluster starts, its SIGTERM/SIGINT handler also arms a deadline. If the cluster has not
exited when it passes, every process of the cluster gets SIGKILL and the command exits 1 (one line
on stderr). Nothing is lost that a crash would not lose: a task a worker was running stays in the
broker and is handed out again after `retry` (docs/reliability.md, worker faults), and a scan,
reconcile or verification run it left `running` is marked failed by the next one (stale-run sweep).
A long task that would have finished within django-q2's own patience is cut short too: raise the
setting (or set 0 to wait as django-q2 does) where tasks must never be interrupted by a restart.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

_armed = False


def qcluster_deadline_install(seconds: float) -> None:
    """Wrap django-q2's Cluster signal handler (before any Cluster exists) so that it arms the deadline."""
    if seconds <= 0:
        return
    from django_q import cluster

    original = cluster.Cluster.sig_handler

    def sig_handler(self, signum, frame):
        _arm(seconds)
        return original(self, signum, frame)

    cluster.Cluster.sig_handler = sig_handler


def _arm(seconds: float) -> None:
    global _armed
    if _armed:
        return
    _armed = True
    timer = threading.Timer(seconds, _expire, args=(seconds,))
    timer.daemon = True
    timer.start()


def _expire(seconds: float) -> None:
    print(f"qcluster: not stopped {seconds:g} s after the signal (a task or the database does not answer); "
          "killing the cluster's processes (their tasks are retried after Q_CLUSTER['retry'])",
          file=sys.stderr, flush=True)
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(1)


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, grandchildren, …), from /proc (Linux); deepest first."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat[stat.rindex(b")") + 2:].split()
        parent_of[int(entry)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parent_of.items() if ppid in frontier]
        found.extend(children)
        frontier = children
    return list(reversed(found))
