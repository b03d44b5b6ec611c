"""Errors of the storage layer. Messages always start with the URI they concern."""


class StorageError(Exception):
    """A location or report that does not exist, cannot be read, or failed mid-way.

    Never swallowed into an empty or partial result: callers turn it into exit code 2 / a failed
    scan / a probe error.
    """


class LocationError(StorageError, ValueError):
    """A malformed storage URI. Also a StorageError, so `except StorageError` covers bad input too."""
