"""The approval fixtures (metric rows, measurements, requests) are shared with tests/approvals."""
from tests.approvals.conftest import make_measurement, make_metric, make_run, open_request  # noqa: F401
