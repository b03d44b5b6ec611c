"""I/O of S3 Inventory reports: storage URIs of manifests and data files, reading them from s3:// or
file://, and the integrity checks of data files (the manifest's size and MD5checksum) as they stream.

Every failure is a StorageError whose message starts with the URI it concerns."""
from __future__ import annotations

import hashlib
import io
import posixpath

from .errors import LocationError, StorageError


def split_object_uri(uri: str) -> tuple[str, str, str]:
    """s3://bucket/key → ("s3", bucket, key); file:///abs/file → ("file", "", "/abs/file")."""
    if not isinstance(uri, str) or "://" not in uri:
        raise LocationError(f"{uri!r}: not a storage URI (expected s3://BUCKET/key or file:///path)")
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise LocationError(f"{uri}: missing bucket name")
        return "s3", bucket, key
    if scheme == "file":
        if not rest.startswith("/"):
            raise LocationError(f"{uri}: file location must be an absolute path (file:///absolute/path)")
        path = posixpath.normpath(rest)
        return "file", "", path + "/" if rest.endswith("/") and path != "/" else path
    raise LocationError(f"{uri}: unsupported scheme {scheme!r} (expected s3:// or file://)")


def s3_client(report_or_none=None):
    from .s3 import make_s3_client

    if report_or_none is not None and report_or_none._client is not None:
        return report_or_none._client
    return make_s3_client()


def s3_fail(uri: str, exc: Exception, what: str) -> StorageError:
    from .s3 import _error_code

    code, msg, status = _error_code(exc)
    if code == "NoSuchBucket":
        return StorageError(f"{uri}: bucket does not exist")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return StorageError(f"{uri}: {what} does not exist")
    if code in ("AccessDenied", "403") or status == 403:
        return StorageError(f"{uri}: access denied ({code or status})")
    return StorageError(f"{uri}: cannot read {what}: {code or type(exc).__name__}: {msg or exc}")


def read_small_object(uri: str, scheme: str, bucket: str, key: str, client, what: str = "manifest",
                      *, missing_ok: bool = False) -> bytes | None:
    """The whole content of a manifest (or its checksum); None when it is absent and `missing_ok`."""
    if scheme == "file":
        try:
            with open(key, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise StorageError(f"{uri}: {what} does not exist") from None
        except IsADirectoryError:
            raise StorageError(f"{uri}: is a folder, not a {what} file") from None
        except OSError as exc:
            raise StorageError(f"{uri}: cannot read {what}: {exc.strerror or exc}") from None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        failure = s3_fail(uri, exc, what)
        if missing_ok and str(failure).endswith(f"{what} does not exist"):
            return None
        raise failure from exc


class HashingReader(io.RawIOBase):
    """Counts and MD5-hashes the compressed bytes as gzip pulls them, so the manifest's size and
    MD5checksum are checked without a second pass."""

    def __init__(self, raw):
        self._raw = raw
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.md5.update(data)
        self.size += n
        return n

    def drain(self):
        while True:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                return
            self.md5.update(chunk)
            self.size += len(chunk)

    def close(self):
        try:
            self._raw.close()
        finally:
            super().close()


def open_data_file(report, data_file):
    scheme, bucket, key = split_object_uri(data_file.uri)
    if scheme == "file":
        try:
            return open(key, "rb")
        except OSError as exc:
            raise StorageError(f"{data_file.uri}: cannot read data file: {exc.strerror or exc}") from None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return s3_client(report).get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise s3_fail(data_file.uri, exc, "data file") from exc


def check_integrity(data_file, reader: HashingReader) -> None:
    reader.drain()
    if data_file.size is not None and reader.size != data_file.size:
        raise StorageError(f"{data_file.uri}: size {reader.size} differs from the manifest's {data_file.size} "
                           "(truncated or replaced data file)")
    if data_file.md5 and reader.md5.hexdigest() != data_file.md5.lower():
        raise StorageError(f"{data_file.uri}: MD5 differs from the manifest's MD5checksum (corrupt data file)")




def read_whole_data_file(report, data_file) -> bytes:
    """A data file's bytes, checked against the manifest's size and MD5 (columnar formats need random
    access: the compressed file is held in memory while it is decoded)."""
    raw = HashingReader(open_data_file(report, data_file))
    try:
        buf = io.BytesIO()
        while True:
            chunk = raw.read(1 << 20)
            if not chunk:
                break
            buf.write(chunk)
        check_integrity(data_file, raw)
        return buf.getvalue()
    except StorageError:
        raise
    except Exception as exc:  # botocore streaming errors and the like
        raise StorageError(f"{data_file.uri}: read failed: {type(exc).__name__}: {exc}") from None
    finally:
        raw.close()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
