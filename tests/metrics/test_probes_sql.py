"""sql_scalar: read-only, typed, errors instead of zeros."""
import pytest
from django.contrib.auth.models import User

from metrics.probes import REGISTRY, ProbeContext, ProbeError
from metrics.probes.base import ParamError

pytestmark = pytest.mark.django_db


def run(**params):
    probe = REGISTRY["sql_scalar"]
    return probe.func(probe.validate(params, base_dir="/"), ProbeContext())


def test_scalar_value_is_an_int():
    User.objects.create(username="a", is_staff=True)
    User.objects.create(username="b")
    value = run(query="SELECT COUNT(*) FROM auth_user WHERE is_staff")
    assert value == 1 and type(value) is int
    assert run(query="select count(*) from auth_user;", database="default") == 2


def test_with_query_allowed():
    assert run(query="WITH t AS (SELECT 7 AS n) SELECT n FROM t") == 7


def test_bad_sql_is_an_error():
    with pytest.raises(ProbeError, match="query failed"):
        run(query="SELECT COUNT(*) FROM no_such_table")


def test_null_and_no_row_are_errors():
    with pytest.raises(ProbeError, match="NULL"):
        run(query="SELECT MAX(id) FROM auth_user")
    with pytest.raises(ProbeError, match="no row"):
        run(query="SELECT id FROM auth_user WHERE id < 0")


def test_writes_are_refused_even_if_validation_is_bypassed():
    with pytest.raises(ProbeError, match="read-only"):
        REGISTRY["sql_scalar"].func({"query": "DELETE FROM auth_user"}, ProbeContext())


WRITING_CTE = "WITH gone AS (DELETE FROM auth_user RETURNING id) SELECT COUNT(*) FROM gone"


def test_side_effects_are_rolled_back():
    # A SELECT that writes through a CTE is still run inside a rolled-back transaction
    # (SQLite refuses the statement; PostgreSQL inside the test transaction runs it, then rolls back).
    User.objects.create(username="keep")
    try:
        run(query=WRITING_CTE)
    except ProbeError:
        pass
    assert User.objects.filter(username="keep").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_runs_the_query_read_only():
    User.objects.create(username="keep")
    with pytest.raises(ProbeError, match="read-only transaction"):
        run(query=WRITING_CTE)
    assert User.objects.filter(username="keep").exists()


@pytest.mark.parametrize("params,key", [
    ({}, "query"),
    ({"query": "UPDATE auth_user SET is_staff = 1"}, "query"),
    ({"query": "SELECT 1", "database": "other"}, "database"),
])
def test_validation(params, key):
    with pytest.raises(ParamError) as exc:
        REGISTRY["sql_scalar"].validate(params, base_dir="/")
    assert exc.value.key == key
