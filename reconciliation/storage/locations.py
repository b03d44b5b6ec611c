"""Storage locations (SPEC §2) and the object record every lister yields."""
from __future__ import annotations

import datetime as dt
import posixpath
import re
from dataclasses import dataclass

from .errors import LocationError

# Lenient on purpose: S3-compatible stores (MinIO, legacy buckets) accept more than AWS's current rules;
# the store itself rejects what it does not know. What we refuse can never be a bucket name.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object. `key` is the FULL key in its store (bucket key for s3; absolute path
    without its leading "/" for file://). `last_modified` is tz-aware UTC."""

    key: str
    size: int
    last_modified: dt.datetime
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    scheme: str  # "s3" | "file"
    bucket: str  # "" for file
    prefix: str  # "" or ends with "/"; for file:// the absolute folder without its leading "/"

    @property
    def uri(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.prefix}"
        return f"file:///{self.prefix}"

    @property
    def store(self) -> str:
        return f"s3://{self.bucket}" if self.scheme == "s3" else "file://"

    @property
    def path(self) -> str:
        """Local folder of a file:// location (absolute, ends with "/")."""
        if self.scheme != "file":
            raise AttributeError("only file:// locations have a local path")
        return "/" + self.prefix

    def contains(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def relative(self, key: str) -> str:
        if not key.startswith(self.prefix):
            raise ValueError(f"{key!r} is not under {self.uri}")
        return key[len(self.prefix):]

    def child(self, relative_prefix: str) -> Location:
        """The location `relative_prefix` below this one (e.g. a source's sub-folder)."""
        return parse_location(self.uri + relative_prefix.lstrip("/"))

    def __str__(self) -> str:
        return self.uri


def parse_location(uri: str | Location) -> Location:
    """`s3://BUCKET/optional/prefix/` or `file:///absolute/path/` → Location.

    The prefix always ends with "/" (a location is a folder, never a key stem). file:// paths are taken
    literally (no percent-decoding) and normalised (`..`, `.`, `//`).
    """
    if isinstance(uri, Location):
        return uri
    if not isinstance(uri, str) or not uri.strip():
        raise LocationError(f"{uri!r}: empty storage location (expected s3://BUCKET/prefix/ or file:///path/)")
    raw = uri.strip()
    scheme, sep, rest = raw.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise LocationError(f"{raw}: not a storage URI (expected s3://BUCKET/prefix/ or file:///path/)")
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise LocationError(f"{raw}: missing bucket name")
        if not _BUCKET_RE.match(bucket):
            raise LocationError(f"{raw}: invalid bucket name {bucket!r}")
        prefix = prefix.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Location("s3", bucket, prefix)
    if scheme == "file":
        if not rest.startswith("/"):
            # file://host/path or file://relative: only local absolute paths are meaningful here.
            raise LocationError(f"{raw}: file location must be an absolute path (file:///absolute/path/)")
        if "\x00" in rest:
            raise LocationError(f"{raw}: NUL byte in path")
        path = posixpath.normpath(rest)
        # normpath keeps a leading "//" (POSIX allows it); we do not.
        path = "/" + path.lstrip("/")
        prefix = path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Location("file", "", prefix)
    raise LocationError(f"{raw}: unsupported scheme {scheme!r} (expected s3:// or file://)")
