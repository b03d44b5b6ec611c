"""A small fault-injecting HTTP proxy for S3 tests: a threaded http.server on 127.0.0.1 that forwards
every request to an upstream (a ThreadedMotoServer) and, per a script of rules, answers instead:

    slowdown   503 SlowDown (S3's throttling answer)
    internal   500 InternalError
    reset      closes the socket with an RST and no response at all
    denied     403 AccessDenied

A Rule matches a request (operation "ListObjectsV2" or None for any, and an optional key prefix, which
is the `prefix` query parameter of a listing) and fires on the matches numbered `start`, `start+1`, …
(1-based) `times` times (None: for ever). Every request is logged (`proxy.log`) with what was done.

    with FaultProxy(upstream) as proxy:
        proxy.add(Rule("internal", op="ListObjectsV2", start=3, times=1))   # the 3rd page fails once
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
"""
from __future__ import annotations

import http.client
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIONS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
    "denied": (403, "AccessDenied", "Access Denied"),
    "reset": None,
}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Rule:
    action: str
    op: str | None = None          # "ListObjectsV2", or None for any request
    prefix: str | None = None      # listing prefix (query `prefix`) must start with this
    start: int = 1                 # fire from the start-th matching request on (1-based)
    times: int | None = 1          # how many times; None = every matching request from `start`
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")

    def applies(self, op: str, prefix: str | None) -> bool:
        if self.op is not None and self.op != op:
            return False
        if self.prefix is not None and not (prefix or "").startswith(self.prefix):
            return False
        self.seen += 1
        if self.seen < self.start or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class LogEntry:
    method: str
    op: str
    prefix: str | None
    action: str  # "forwarded" or the fault's action


def operation(method: str, path: str, query: dict) -> str:
    """The S3 operation of a path-style request (only what the tests need to tell apart)."""
    parts = [p for p in path.split("/") if p]
    if method == "GET" and len(parts) == 1:
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return f"{method} {'object' if len(parts) > 1 else 'bucket'}"


class FaultProxy:
    def __init__(self, upstream: str):
        up = urllib.parse.urlsplit(upstream)
        self.upstream = (up.hostname, up.port)
        self.rules: list[Rule] = []
        self.log: list[LogEntry] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                split = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
                op = operation(self.command, split.path, query)
                prefix = (query.get("prefix") or [None])[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = proxy._decide(op, prefix)
                proxy._record(LogEntry(self.command, op, prefix, action or "forwarded"))
                if action == "reset":
                    # SO_LINGER 0: close() sends an RST, the client sees a reset connection.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if action:
                    status, code, message = ACTIONS[action]
                    self._reply(status, {"Content-Type": "application/xml"}, _error_xml(code, message))
                    return
                self._forward(body)

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    headers = [(k, v) for k, v in resp.getheaders()
                               if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
                    self._reply(resp.status, dict(headers), data)
                finally:
                    conn.close()

            def _reply(self, status: int, headers: dict, body: bytes):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def add(self, *rules: Rule) -> None:
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()

    def _decide(self, op: str, prefix: str | None) -> str | None:
        with self._lock:
            for rule in self.rules:
                if rule.applies(op, prefix):
                    return rule.action
        return None

    def _record(self, entry: LogEntry) -> None:
        with self._lock:
            self.log.append(entry)

    def count(self, action: str | None = None, op: str | None = None) -> int:
        with self._lock:
            return sum(1 for e in self.log if (action is None or e.action == action) and (op is None or e.op == op))


def _error_xml(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>faultproxy</RequestId><HostId>faultproxy</HostId></Error>").encode()
