"""Races that only a real database can show: two workers, one cooldown; two deliveries, one key."""
import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from events.choices import EventStatus
from events.models import Event
from events.services import event_process, event_record

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc)


def race(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results[i] = fn(i)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_cooldown_fire_once(hooks_config, fake_runs):
    ids = [event_record("git_post_commit", source="git", enqueue=False)[0].pk for _ in range(4)]
    race(4, lambda i: event_process(ids[i], now=T0))
    statuses = sorted(Event.objects.values_list("status", flat=True))
    assert statuses == [EventStatus.DONE] + [EventStatus.SKIPPED_COOLDOWN] * 3
    assert len(fake_runs.verifications) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_key_make_one_event(enqueued):
    def deliver(i):
        with transaction.atomic():
            return event_record("scraper_complete", source="espn", dedupe_key="job-1")

    results = race(6, deliver)
    assert len({e.pk for e, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Event.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_s3_events_of_one_key_end_in_the_newest_state(enqueued):
    """Twelve workers apply creates and deletes of two keys in any order at once: each key ends as its
    newest sequencer says (SPEC §12), whatever order the row locks were taken in."""
    import random

    from events.models import S3KeySequence
    from reconciliation.models import StoredObject

    def record(key, seq, create):
        name = "ObjectCreated:Put" if create else "ObjectRemoved:Delete"
        payload = {"event_name": name, "bucket": "lake", "key": key, "size": int(seq, 16) if create else None,
                   "etag": "", "event_time": "2026-11-22T10:00:00Z", "sequencer": seq}
        return event_record("s3_event", source="lake", payload=payload, dedupe_key=f"s3:lake:{seq}:{key}",
                            enqueue=False)[0].pk

    # key a: the newest change (0F) creates it; key b: the newest (0F) deletes it
    ids = [record("a.json", f"0{c}", c in "ACEF") for c in "ABCDEF"]
    ids += [record("b.json", f"0{c}", c in "ABCDE") for c in "ABCDEF"]
    random.Random(7).shuffle(ids)
    race(len(ids), lambda i: event_process(ids[i], now=T0))
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.DONE}
    assert list(StoredObject.objects.filter(store="s3://lake").values_list("key", "size")) == [("a.json", 15)]
    assert {r.key: r.sequencer.rstrip("0") for r in S3KeySequence.objects.all()} == {"a.json": "0F", "b.json": "0F"}
