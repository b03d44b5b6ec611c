"""Metric probes (SPEC §3): importing this package registers every kind.

See base.py for the registry contract (register/ProbeError/ProbeContext)."""
from . import base  # noqa: F401
from . import expression, files, git, reconciliation, s3, shell, sql, sync  # noqa: F401
from .base import REGISTRY, ParamError, ProbeContext, ProbeError, register  # noqa: F401
