"""s3:// listing with boto3 (SPEC §2).

Speed: the location is first listed with Delimiter="/" (direct objects + common prefixes); each common
prefix is then listed in full on a bounded thread pool sharing ONE client (boto3 clients are thread-safe,
sessions are not). Results are yielded in key order, so a listing is deterministic.

Robustness: botocore's own retries (standard mode, exponential backoff with jitter, on throttling, 5xx
and connection errors) run inside every call; when a page still fails, we retry *that page* from its
continuation token (not the whole listing) a few more rounds with our own backoff; when that fails too
we raise StorageError. A listing is complete or it is an error, never partial.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

from .errors import StorageError
from .locations import Location, ObjectInfo

_UTC = dt.timezone.utc
_PROGRESS_EVERY = 10_000

# Our page-level resume rounds (each round = one botocore call with its own max_attempts retries).
RESUME_ROUNDS = 3
RESUME_BASE_DELAY = 0.5
RESUME_MAX_DELAY = 10.0
# Descend into a lone common prefix (e.g. "s3://b/" holding only "raw/") at most this many levels, so
# that the split has something to split.
MAX_DESCEND = 3
# MaxKeys per ListObjectsV2 call; None = the store's default (1,000 on S3). Tests lower it.
PAGE_SIZE: int | None = None

_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
})
_TRANSIENT_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "ServiceUnavailable", "InternalFailure", "ExpiredToken",
})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_DENIED_CODES = frozenset({
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "InvalidToken", "AccountProblem", "403",
})

_sleep = time.sleep  # tests replace it


def _setting(name: str, default, cast=int):
    try:
        from django.conf import settings

        if settings.configured:
            return cast(getattr(settings, name, None) or os.environ.get(name) or default)
    except Exception:  # pragma: no cover - used outside Django (bench scripts)
        pass
    return cast(os.environ.get(name, default))


@dataclass
class ListingStats:
    """Counters of one listing (pass `stats=ListingStats()`); `TOTALS` accumulates over the process."""

    list_calls: int = 0      # ListObjectsV2 calls we issued (one per page, resumes included)
    http_retries: int = 0    # retries botocore did inside those calls (ResponseMetadata.RetryAttempts)
    resumed_pages: int = 0   # pages we re-requested from their continuation token after a failure
    prefixes: int = 0        # prefixes listed in parallel
    objects: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


TOTALS = ListingStats()


def make_s3_client(*, max_attempts: int | None = None, workers: int | None = None, retry_mode: str | None = None):
    """A fresh S3 client. Endpoint and credentials come from boto3's own resolution (AWS_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID, profiles, instance roles…), so MinIO / moto server work unchanged.
    Retry mode: ADCE_S3_RETRY_MODE ("standard" by default; "adaptive" adds client-side rate limiting)."""
    retry_mode = retry_mode or _setting("ADCE_S3_RETRY_MODE", "standard", str)
    if retry_mode not in ("standard", "adaptive", "legacy"):
        raise ValueError(f"ADCE_S3_RETRY_MODE must be standard or adaptive, not {retry_mode!r}")
    import boto3
    from botocore.config import Config

    attempts = max_attempts if max_attempts is not None else _setting("ADCE_S3_MAX_ATTEMPTS", 8)
    pool = workers if workers is not None else _setting("ADCE_S3_LIST_WORKERS", 8)
    config = Config(
        retries={"mode": retry_mode, "total_max_attempts": max(1, attempts)},  # initial call included
        max_pool_connections=max(10, pool + 2),
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="adce-storage",
    )
    return boto3.session.Session().client("s3", config=config)


def _error_code(exc: Exception) -> tuple[str, str, int]:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    return str(err.get("Code") or ""), str(err.get("Message") or ""), int(status or 0)


def _is_retryable(exc: Exception) -> bool:
    from botocore.exceptions import (
        ClientError, ConnectionClosedError, ConnectionError as BotoConnectionError, EndpointConnectionError,
        ReadTimeoutError, ResponseStreamingError,
    )

    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, BotoConnectionError,
                        ReadTimeoutError, ResponseStreamingError)):
        return True
    if isinstance(exc, ClientError):
        code, _msg, status = _error_code(exc)
        return code in _THROTTLE_CODES or code in _TRANSIENT_CODES or status >= 500 or status == 429
    return False


def _describe(location: Location, exc: Exception) -> str:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, ClientError):
        code, msg, status = _error_code(exc)
        if code in _MISSING_BUCKET_CODES:
            return f"s3://{location.bucket}/: bucket does not exist"
        if code in _DENIED_CODES or status == 403:
            return f"{location.uri}: access denied ({code or status}{': ' + msg if msg else ''})"
        return f"{location.uri}: {code or 'HTTP ' + str(status)}{': ' + msg if msg else ''}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return f"{location.uri}: no usable AWS credentials ({exc})"
    return f"{location.uri}: {type(exc).__name__}: {exc}"


class _Lister:
    def __init__(self, client, location: Location, stats: ListingStats, stop: threading.Event):
        self.client = client
        self.location = location
        self.stats = stats
        self.stop = stop

    def _call(self, kwargs: dict) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        last: Exception | None = None
        for round_ in range(RESUME_ROUNDS):
            if self.stop.is_set():
                raise StorageError(f"{self.location.uri}: listing cancelled")
            if round_:
                self.stats.add(resumed_pages=1)
                TOTALS.add(resumed_pages=1)
                delay = min(RESUME_MAX_DELAY, RESUME_BASE_DELAY * 2 ** (round_ - 1))
                _sleep(delay * (0.5 + random.random() / 2))  # jitter: retries of parallel prefixes spread
            self.stats.add(list_calls=1)
            TOTALS.add(list_calls=1)
            try:
                resp = self.client.list_objects_v2(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                if not _is_retryable(exc):
                    raise StorageError(_describe(self.location, exc)) from exc
                last = exc
                continue
            retries = int((resp.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
            if retries:
                self.stats.add(http_retries=retries)
                TOTALS.add(http_retries=retries)
            return resp
        raise StorageError(
            f"{_describe(self.location, last)} (page failed after {RESUME_ROUNDS} rounds of retries)"
        ) from last

    def pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        kwargs = {"Bucket": self.location.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if PAGE_SIZE:
            kwargs["MaxKeys"] = PAGE_SIZE
        while True:
            resp = self._call(kwargs)
            yield resp
            if not resp.get("IsTruncated"):
                return
            token = resp.get("NextContinuationToken")
            if not token:
                raise StorageError(f"{self.location.uri}: truncated listing page without a continuation token")
            kwargs["ContinuationToken"] = token

    def discover(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        direct: list[ObjectInfo] = []
        prefixes: list[str] = []
        for page in self.pages(prefix, "/"):
            direct.extend(_objects(page))
            prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes") or ())
        return direct, prefixes

    def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        for page in self.pages(prefix):
            out.extend(_objects(page))
        return out


def _objects(page: dict) -> list[ObjectInfo]:
    result = []
    for o in page.get("Contents") or ():
        lm = o["LastModified"]
        # botocore gives dateutil's tzutc; normalise to datetime.timezone.utc for equality/hashing.
        lm = lm.astimezone(_UTC) if lm.tzinfo is not None else lm.replace(tzinfo=_UTC)
        result.append(ObjectInfo(o["Key"], int(o.get("Size") or 0), lm, (o.get("ETag") or "").strip('"')))
    return result


def list_s3(location: Location, *, progress: Callable[[str], None] | None = None,
            stats: ListingStats | None = None, client=None, workers: int | None = None) -> Iterator[ObjectInfo]:
    """Every object under an s3:// location, in key order. Raises StorageError (see module doc)."""
    stats = stats if stats is not None else ListingStats()
    workers = max(1, workers if workers is not None else _setting("ADCE_S3_LIST_WORKERS", 8))
    if client is None:
        try:
            client = make_s3_client(workers=workers)
        except Exception as exc:  # bad endpoint URL, unknown profile, …
            raise StorageError(f"{location.uri}: cannot create S3 client: {exc}") from exc
    stop = threading.Event()
    lister = _Lister(client, location, stats, stop)

    # 1. Find the split: objects directly under the location, and its common prefixes.
    direct, prefixes = lister.discover(location.prefix)
    for _ in range(MAX_DESCEND):
        if direct or len(prefixes) != 1:
            break
        direct, prefixes = lister.discover(prefixes[0])
    stats.add(prefixes=len(prefixes))

    count = 0

    def emit(objs):
        nonlocal count
        for obj in objs:
            count += 1
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(f"{location.uri}: {count} objects listed\n")
            yield obj
        stats.add(objects=len(objs), bytes=sum(o.size for o in objs))

    # Direct keys and prefix blocks interleave in key order: a direct key never starts with a
    # prefix, so comparing it with the prefix string places it before or after that whole block.
    direct_q = deque(direct)
    if not prefixes:
        yield from emit(direct)
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(prefixes)), thread_name_prefix="adce-s3-list")
    window = max(2, workers * 2)  # bounded read-ahead: memory stays O(window prefixes)
    try:
        pending: deque = deque()
        it = iter(prefixes)
        for p in it:
            pending.append((p, pool.submit(lister.list_prefix, p)))
            if len(pending) >= window:
                break
        while pending:
            p, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(lister.list_prefix, nxt)))
            head = []
            while direct_q and direct_q[0].key < p:
                head.append(direct_q.popleft())
            yield from emit(head)
            yield from emit(fut.result())
        yield from emit(list(direct_q))
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
