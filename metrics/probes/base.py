"""The probe registry: one measuring function per metric kind (SPEC §3).

A probe module registers a kind like this::

    @register("file_count", validate=_validate, parse_type="integer")
    def file_count(params: dict, ctx: ProbeContext):
        ...                      # returns the raw value; raise ProbeError(reason) on any failure

`validate(params: dict, *, base_dir: pathlib.Path) -> dict` runs at import time (pure: no I/O against
the measured system). It receives the metric's parameters (every key of the definition except the
common ones: kind, parse_type, precision, volatility, critical, ttl_hours, description, enabled),
returns the normalised parameters to store (relative paths resolved against `base_dir`) and raises
`ParamError(key, problem)` for a bad one. `parse_type` is the kind's default parse type.
`dependencies(params) -> list[str]` (only `expression` has one) names the metrics that must be
measured first in the same run.

A probe never returns 0 for a failure: it raises ProbeError, which the run records as status
"error" with the reason.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

PREFETCH_WORKERS = 4  # root locations listed at the same time by one run

COMMON_KEYS = frozenset(
    {"kind", "parse_type", "precision", "volatility", "critical", "ttl_hours", "description", "enabled"}
)


class ProbeError(Exception):
    """A measurement failed; `reason` is stored in Measurement.error."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ParamError(ValueError):
    """A metric parameter is missing or invalid (import time)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def _no_validation(params: dict, *, base_dir: Path) -> dict:
    return dict(params)


@dataclass(frozen=True)
class Probe:
    kind: str
    func: Callable[[dict, "ProbeContext"], Any]
    validate: Callable[..., dict] = _no_validation
    parse_type: str = "integer"
    dependencies: Callable[[dict], list[str]] | None = None


REGISTRY: dict[str, Probe] = {}


def register(kind: str, *, validate=None, parse_type: str = "integer", dependencies=None):
    def decorator(func):
        REGISTRY[kind] = Probe(kind, func, validate or _no_validation, parse_type, dependencies)
        return func

    return decorator


# --- parameter helpers shared by the validators -------------------------------------------------

def check_keys(params: dict, *, required: Iterable[str] = (), optional: Iterable[str] = ()) -> None:
    required, optional = list(required), list(optional)
    for key in required:
        if key not in params or params[key] is None or params[key] == "":
            raise ParamError(key, "required parameter is missing")
    allowed = set(required) | set(optional)
    for key in params:
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ParamError(str(key), f"unknown parameter (allowed: {names})")


def want_str(params: dict, key: str) -> str:
    value = params[key]
    if not isinstance(value, str) or not value.strip():
        raise ParamError(key, f"must be a non-empty string, got {value!r}")
    return value


def want_bool(params: dict, key: str) -> bool:
    value = params[key]
    if not isinstance(value, bool):
        raise ParamError(key, f"must be true or false, got {value!r}")
    return value


def want_number(params: dict, key: str, *, minimum: float | None = None, integer: bool = False):
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ParamError(key, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParamError(key, f"must be >= {minimum}, got {value!r}")
    return value


def resolve_path(params: dict, key: str, base_dir: Path) -> str:
    raw = want_str(params, key)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    # normpath, not resolve(): keep symlinks as the operator wrote them, drop "." and "..".
    import os

    return os.path.normpath(str(path))


UNITS = {"bytes": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def want_unit(params: dict) -> str:
    unit = params.get("unit", "bytes")
    if unit not in UNITS:
        raise ParamError("unit", f"must be one of {', '.join(UNITS)}, got {unit!r}")
    return unit


def glob_regex(pattern: str) -> re.Pattern:
    """Compile a path glob: `**/` = zero or more folders, `*` and `?` stay within one folder,
    `[...]` is a character class. Matched against the whole relative key with `/` separators."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def want_glob(params: dict, key: str = "glob") -> str:
    value = want_str(params, key)
    try:
        glob_regex(value)
    except re.error as exc:
        raise ParamError(key, f"invalid glob {value!r}: {exc}") from None
    return value


# --- the per-run context -------------------------------------------------------------------------

@dataclass
class _Listing:
    objects: list | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ProbeContext:
    """State shared by the probes of one verification run.

    * Listings are cached by location URI so that several metrics over one location list it once.
      When the run announces its locations (`plan_locations`), a location that lies under another
      announced one is served by filtering the parent's listing: one listing per distinct root.
    * `values` holds the typed values measured so far in this run ("cat.name" -> value), and
      `errors` the reasons of the failed ones, for `expression` metrics.
    """

    def __init__(self, *, list_objects=None, parse_location=None, client=None):
        from reconciliation import storage

        self._stats_factory = None
        if list_objects is None:
            list_objects = storage.list_objects
            self._stats_factory = storage.ListingStats  # count the ListObjectsV2 calls of this run
        parse_location = parse_location or storage.parse_location
        self._list_objects = list_objects
        self._client = client
        self._stats: list = []
        self._parse_location = parse_location
        self._listings: dict[str, _Listing] = {}
        self._roots: list = []  # planned Location objects that are not under another planned one
        self._lock = threading.Lock()
        self.listings_made = 0
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def _s3_client(self):
        """One S3 client shared by all listings of the run (boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                from reconciliation.storage import make_s3_client

                from django.conf import settings

                try:
                    # Pool sized for the roots listed concurrently, each on its own thread pool.
                    self._client = make_s3_client(workers=settings.ADCE_S3_LIST_WORKERS * PREFETCH_WORKERS)
                except Exception:
                    return None  # let the lister report why it cannot create one
            return self._client

    @property
    def list_calls(self) -> int:
        """ListObjectsV2 calls made by this run's listings (default storage lister only)."""
        return sum(stats.list_calls for stats in self._stats)

    def location(self, uri: str):
        try:
            return self._parse_location(uri)
        except ValueError as exc:
            raise ProbeError(f"{uri}: {exc}") from None

    def plan_locations(self, uris: Iterable[str]) -> list:
        """Announce the locations the run will read; returns the roots that will actually be listed."""
        locs = {}
        for uri in uris:
            try:
                loc = self._parse_location(uri)
            except ValueError:
                continue  # the probe itself reports the bad URI
            locs[loc.uri] = loc
        ordered = sorted(locs.values(), key=lambda loc: len(loc.uri))
        roots: list = []
        for loc in ordered:
            if not any(_under(loc, root) for root in roots):
                roots.append(loc)
        self._roots = roots
        return roots

    def _root_for(self, loc):
        for root in self._roots:
            if _under(loc, root):
                return root
        return loc

    def _listing(self, loc) -> list:
        with self._lock:
            entry = self._listings.setdefault(loc.uri, _Listing())
        with entry.lock:  # a second metric on the same location waits for the first listing
            if entry.objects is None and entry.error is None:
                self.listings_made += 1
                kwargs = {}
                if self._stats_factory is not None:
                    kwargs["stats"] = self._stats_factory()
                    self._stats.append(kwargs["stats"])
                    if loc.scheme == "s3":
                        client = self._s3_client()
                        if client is not None:
                            kwargs["client"] = client
                try:
                    entry.objects = list(self._list_objects(loc, **kwargs))
                except Exception as exc:  # StorageError and anything unexpected: never partial
                    entry.error = str(exc) or type(exc).__name__
            if entry.error is not None:
                raise ProbeError(entry.error)
            return entry.objects

    def prefetch(self, max_workers: int = None) -> None:
        """List every planned root concurrently (errors are kept and raised by the probes)."""
        if len(self._roots) <= 1:
            for root in self._roots:
                try:
                    self._listing(root)
                except ProbeError:
                    pass
            return
        from concurrent.futures import ThreadPoolExecutor

        max_workers = max_workers or PREFETCH_WORKERS

        def one(root):
            try:
                self._listing(root)
            except ProbeError:
                pass

        with ThreadPoolExecutor(max_workers=min(max_workers, len(self._roots))) as pool:
            list(pool.map(one, self._roots))

    def objects(self, uri: str) -> list:
        """Every object under the location (full keys), from the run's shared listing."""
        loc = self.location(uri)
        root = self._root_for(loc)
        objects = self._listing(root)
        if root.uri == loc.uri:
            return objects
        return [obj for obj in objects if loc.contains(obj.key)]


def _under(loc, root) -> bool:
    return loc.store == root.store and loc.uri.startswith(root.uri)
