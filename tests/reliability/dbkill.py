"""Kill a Django connection's PostgreSQL backend from a second connection at a chosen moment.

    killer = BackendKiller.of(connection)   # the backend to kill: this thread's Django connection
    killer.start()
    ...  in the code under test, at the chosen point:  killer.hit()  # signals, blocks until killed
    killer.join()

Event-based, no sleeps: hit() sets `reached`; the killer thread waits for it, runs
pg_terminate_backend(pid) on its own connection, waits until the backend is gone, sets `killed`."""
from __future__ import annotations

import threading

import psycopg


def conninfo(settings_dict: dict) -> str:
    s = settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class BackendKiller:
    def __init__(self, dsn: str, pid: int, *, timeout: float = 30):
        self.dsn, self.pid, self.timeout = dsn, pid, timeout
        self.reached = threading.Event()
        self.killed = threading.Event()
        self.hits = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backend-killer", daemon=True)

    @classmethod
    def of(cls, connection) -> "BackendKiller":
        connection.ensure_connection()
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        return cls(conninfo(connection.settings_dict), pid)

    def start(self) -> "BackendKiller":
        self._thread.start()
        return self

    def hit(self) -> None:
        """Called by the code under test at the kill point (first call only)."""
        self.hits += 1
        if self.hits > 1:
            return
        self.reached.set()
        if not self.killed.wait(self.timeout):
            raise AssertionError("the backend was not killed in time")

    def _run(self):
        try:
            if not self.reached.wait(self.timeout):
                return
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                assert conn.execute("SELECT pg_terminate_backend(%s)", [self.pid]).fetchone()[0]
                # pg_terminate_backend only signals: wait (bounded) until the backend is gone
                for _ in range(1000):
                    gone = not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [self.pid]).fetchone()
                    if gone:
                        break
                    conn.execute("SELECT pg_sleep(0.01)")
        except BaseException as exc:  # surfaced by join()
            self.error = exc
        finally:
            self.killed.set()

    def join(self) -> None:
        self._thread.join(self.timeout)
        if self.error is not None:
            raise self.error
