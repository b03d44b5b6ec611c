"""Fixtures of the reliability tests: the fault proxy in front of the moto server, fast backoff,
row snapshots of the state a failed run must leave untouched."""
from __future__ import annotations

import time
import types

import botocore.endpoint
import pytest

from reconciliation.storage import s3 as s3mod

from .faultproxy import FaultProxy


@pytest.fixture
def fault_proxy(server_bucket, monkeypatch):
    """A FaultProxy in front of the test's moto server; AWS_ENDPOINT_URL points at the proxy."""
    import os

    upstream = os.environ["AWS_ENDPOINT_URL"]
    with FaultProxy(upstream) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


@pytest.fixture
def fast_backoff(monkeypatch):
    """Backoff delays (botocore's and ours) are recorded and slept 1/1000 as long: the retry logic
    runs for real, the test stays fast. Returns the list of requested delays."""
    delays: list[float] = []

    def sleep(seconds):
        delays.append(seconds)
        time.sleep(seconds / 1000)

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=sleep))
    monkeypatch.setattr(s3mod, "_sleep", sleep)
    return delays


def rows(model, *exclude: str) -> list[dict]:
    """Every row of `model` as a dict (all concrete fields), by primary key."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
    return list(model.objects.order_by("pk").values(*names))


def state_snapshot() -> dict:
    """The inventory, gaps and tasks, row by row: what a failed scan/reconcile must not change."""
    from reconciliation.models import Gap, StoredObject, Task

    return {"objects": rows(StoredObject), "gaps": rows(Gap), "tasks": rows(Task)}
