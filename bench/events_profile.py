"""Where the time of one POST /api/events/ goes (issue 15 item 7): N requests through Django's full
handler (middleware, view, auth, record, enqueue) in this process, Bearer then HMAC, against the
database DATABASE_URL names (migrated first); per-request wall time p50/p99 and the top functions
by cumulative time (cProfile) of the HMAC run.

    DATABASE_URL='postgres://postgres@127.0.0.1:5432/DB?conn_max_age=60' python bench/events_profile.py [-n 2000]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
TOKEN = "bench-token-" + uuid.uuid4().hex
os.environ["ADCE_EVENTS_TOKEN"] = TOKEN
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from events.auth import sign

    call_command("migrate", verbosity=0)
    client = Client()
    run = uuid.uuid4().hex[:8]

    def body(auth: str, i: int) -> bytes:
        return json.dumps({"type": "scraper_complete", "source": "bench", "id": f"prof-{run}-{auth}-{i}",
                           "payload": {"scraper": "espn_async_scraper", "n": i}}).encode()

    def send(auth: str, i: int):
        raw = body(auth, i)
        headers = ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"} if auth == "bearer"
                   else {"HTTP_X_ADCE_SIGNATURE": sign(raw, TOKEN)})
        r = client.post("/api/events/", data=raw, content_type="application/json", **headers)
        assert r.status_code == 202, r.content

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}, n={args.n}")
    for auth in ("bearer", "signature"):
        for i in range(50):  # warm-up: connections, caches
            send(auth, -1 - i)
        times = []
        for i in range(args.n):
            t0 = time.perf_counter()
            send(auth, i)
            times.append(time.perf_counter() - t0)
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000  # noqa: E731
        print(f"{auth:<9} p50 {p(0.5):.2f} ms  p90 {p(0.9):.2f} ms  p99 {p(0.99):.2f} ms  "
              f"=> {len(times) / sum(times):.0f} req/s serial")
    profile = cProfile.Profile()
    profile.enable()
    for i in range(args.n, args.n + min(args.n, 1000)):
        send("signature", i)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
