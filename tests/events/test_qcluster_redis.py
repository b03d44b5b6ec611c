"""The Redis broker for real: `emit_event` and `qcluster` run as separate processes with
ADCE_REDIS_URL set, so the task travels through Redis (not the ORM queue) and the event is processed.
Runs in the PostgreSQL pass (the processes share the test database); Redis must be reachable."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from events.choices import FINISHED_STATUSES
from events.models import Event
from tests.events.test_qcluster_e2e import _database_url, run_qcluster_until_finished

REDIS_URL = os.environ.get("ADCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:  # a required service: fail, never skip
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield client
    client.close()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_event_travels_through_the_redis_broker(tmp_path, redis_client):
    cluster = f"adce-test-{uuid.uuid4().hex[:8]}"  # its own queue: nothing left over from other runs
    env = {**os.environ, "DATABASE_URL": _database_url(), "ADCE_VAR_DIR": str(tmp_path / "var"),
           "ADCE_REDIS_URL": REDIS_URL, "ADCE_Q_CLUSTER_NAME": cluster, "ADCE_Q_POLL": "0.2",
           "ADCE_Q_WORKERS": "1"}
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    emitted = subprocess.run([sys.executable, manage, "emit_event", "redis_ping", "--source", "pytest"],
                             env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    assert emitted.returncode == 0, emitted.stderr
    event = Event.objects.get(type="redis_ping")
    # The task waits in Redis, under the cluster's queue, not in the ORM queue.
    assert redis_client.llen(f"django_q:{cluster}:q") == 1

    try:
        run_qcluster_until_finished(event, env, tmp_path / "qcluster.log")
    finally:
        redis_client.delete(f"django_q:{cluster}:q")
    # No hook matches "redis_ping": the event is processed and finished without work.
    assert event.status in FINISHED_STATUSES and event.status != "failed", f"{event.status}: {event.error}"
    assert event.processed_at is not None
    assert redis_client.llen(f"django_q:{cluster}:q") == 0
