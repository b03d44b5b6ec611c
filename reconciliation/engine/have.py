"""HAVE: the newest object of every partition, as analysis.analyze takes it (SPEC §6).

    load_have(specs, as_of) -> {(data_type_id, partition): ObjectSummary | PRESENT}   # from the inventory
    have_from_rows(rows) -> {(data_type_id, partition): ObjectSummary}               # from plain rows
    verdict_sql(rule) -> (sql, params)      # domain.verdict's rule compiled to a WHERE condition

The verdict itself lives in reconciliation.domain.verdict; the SQL here is built from that rule's
clauses, never written by hand, so the pre-filter and the pure judgement cannot drift apart.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from itertools import chain, repeat

from django.db import connection, transaction

from adce_site.iterables import chunks

from reconciliation.domain.analysis import PRESENT, DataTypeSpec, ObjectSummary, is_newer
from reconciliation.domain.verdict import FIELDS, VerdictRule, verdict_rule
from reconciliation.engine.duck_sql import inventory_session, inventory_sql
from reconciliation.models import DataType, StoredObject

_COLUMN = {name: f'o."{name}"' for name in FIELDS}  # every verdict field is an inventory column


def verdict_sql(rule: VerdictRule, dialect: str | None = None) -> tuple[str, list]:
    """The rule as an SQL condition on an inventory row aliased `o`: true exactly when the rule gives
    the row's object a gap kind (the row is a *suspect*), with its parameters (for `dialect`: Django's
    database by default, or "duckdb", which takes the datetime itself)."""
    dialect = dialect or connection.vendor
    ors, params = [], []
    for _kind, conditions in rule.clauses:
        ands = []
        for name, op, value in conditions:
            ands.append(f"{_COLUMN[name]} {op} %s")
            if name == "last_modified" and dialect != "duckdb":
                value = connection.ops.adapt_datetimefield_value(value)
            params.append(value)
        ors.append("(" + " AND ".join(ands) + ")")
    return ("(" + " OR ".join(ors) + ")" if ors else "(1 = 0)"), params


def here_sql(loc, dialect: str) -> tuple[str, list]:
    """An inventory row aliased `o` lies under the location `loc`: the condition and its parameters."""
    if dialect == "sqlite":
        return 'o."store" = %s AND substr(o."key", 1, length(%s)) = %s', [loc.store, loc.prefix, loc.prefix]
    return 'o."store" = %s AND starts_with(o."key", %s)', [loc.store, loc.prefix]


def _summary_setters():
    """ObjectSummary's slot descriptors: setting the fields directly skips the frozen dataclass'
    __init__ (a third of HAVE's load time for a million objects). None when it has no slots."""
    try:
        return ObjectSummary.key.__set__, ObjectSummary.size.__set__, ObjectSummary.last_modified.__set__
    except AttributeError:
        return None


def have_from_rows(rows: Iterable[tuple], have: dict | None = None, *, parse=None) -> dict:
    """(data_type_id, partition, key, size, last_modified) rows → HAVE, the newest object per partition.
    `parse` turns a raw last_modified (SQLite text) into an aware datetime."""
    have = {} if have is None else have
    get = have.get
    setters = _summary_setters()
    if setters is None:
        for dt_id, part, key, size, lm in rows:
            if parse is not None:
                lm = parse(lm)
            cur = get((dt_id, part))
            if cur is None or is_newer(lm, size, key, cur):
                have[(dt_id, part)] = ObjectSummary(key, size, lm)
        return have
    set_key, set_size, set_lm = setters
    new, cls = object.__new__, ObjectSummary
    if parse is None:
        parse = _identity
    for dt_id, part, key, size, lm in rows:
        lm = parse(lm)
        k = (dt_id, part)
        cur = get(k)
        if cur is None or is_newer(lm, size, key, cur):
            obj = new(cls)
            set_key(obj, key)
            set_size(obj, size)
            set_lm(obj, lm)
            have[k] = obj
    return have


def _identity(value):
    return value


def load_have(specs: Iterable[DataTypeSpec], as_of) -> dict:
    """HAVE from the inventory table for analysis.analyze as of `as_of`: (data type id, partition) →
    the newest object (ObjectSummary, with its key) when it could be empty or stale, else PRESENT.

    Most partitions are healthy and only their presence matters. So per data type one aggregate query
    returns its present partitions as one text (split in C instead of a row tuple per object) and the
    partitions holding a *suspect* object: one the data type's verdict rule (verdict_sql) would judge
    a gap. Only those partitions' rows are read in full, and their newest object picked as
    is_newer does. A partition without a suspect object cannot be empty or stale, whichever object
    is the newest; one with a suspect object is judged on its newest object (an empty older copy under
    a good newest one is fine; an empty newest one is a gap even with a large older one).

    Only rows under their source's *current* location count: rows left from an old location (the
    coverage moved) or from a `scan --location` of another copy never make a partition present.
    All queries read one snapshot of the inventory (see have_snapshot)."""
    from reconciliation.storage import parse_location

    present_keys, newest = [], {}
    specs = list(specs)
    locations = dict(DataType.objects.filter(pk__in=[s.id for s in specs]).values_list("id", "source__location"))
    # The location test sits inside the aggregates, not in WHERE: the planner (often without statistics
    # right after a bulk scan) would otherwise AND the data-type index with the whole (store, key) one.
    # '/' joins partitions safely when they hold none ({game_id} is one path segment, the others are
    # dates, seasons or ""). Partitions with dimension values (§10) hold '/': they are joined with a
    # control character, and the pieces counted against the rows, so that a key holding that character
    # too falls back to reading the partitions one row each (_partitions_of).
    with inventory_session():  # have_snapshot, each store's inventory opened once
        for spec in specs:
            try:
                loc = parse_location(locations[spec.id])
            except (KeyError, ValueError):
                continue
            with inventory_sql(loc.store) as inv:
                present, suspects = _present_and_suspects(spec, as_of, loc, inv)
                present_keys.append(zip(repeat(spec.id), present))
                if suspects:
                    newest.update(newest_of(spec.id, sorted(set(suspects)), loc, inv))
    have = dict.fromkeys(chain.from_iterable(present_keys), PRESENT)  # one C-level build of ~1M keys
    have.update(newest)
    return have


_SEPARATOR = "\x1e"  # ASCII record separator: joins partitions that may hold '/'


def _present_and_suspects(spec: DataTypeSpec, as_of, loc, inv) -> tuple[list[str], list[str]]:
    """The data type's present partitions under `loc` and those holding a suspect object (load_have)."""
    agg = "group_concat({}, %s)" if inv.dialect == "sqlite" else "string_agg({}, %s)"
    here, where = here_sql(loc, inv.dialect)
    present_agg = agg.format(f'CASE WHEN {here} THEN o."partition" END')
    rule = verdict_rule(spec, as_of)
    suspect, suspect_params = verdict_sql(rule, inv.dialect)
    suspect_agg = agg.format(f'CASE WHEN {here} AND {suspect} THEN o."partition" END')
    if spec.dimensions:
        sep = _SEPARATOR
        counts = (f'count(CASE WHEN {here} THEN 1 END), '
                  f'count(CASE WHEN {here} AND {suspect} THEN 1 END)')
        params = [*where, sep, *where, *suspect_params, sep, *where, *where, *suspect_params, spec.id]
    else:
        sep, counts = "/", "-1, -1"
        params = [*where, sep, *where, *suspect_params, sep, spec.id]
    inv.cursor.execute(f'SELECT {present_agg}, {suspect_agg}, {counts} FROM {inv.objects} o '
                       f'WHERE o."data_type_id" = %s', params)
    present, suspects, n_present, n_suspect = inv.cursor.fetchone()
    present = present.split(sep) if present is not None else []  # None: no object at all
    suspects = suspects.split(sep) if suspects is not None else []
    if n_present >= 0 and (len(present) != n_present or len(suspects) != n_suspect):
        present, suspects = _partitions_of(spec, rule, loc, inv)  # a partition holds the separator
    return present, suspects


def _partitions_of(spec: DataTypeSpec, rule, loc, inv) -> tuple[list[str], list[str]]:
    """(present partitions, partitions holding a suspect object) of a data type, one row each (rare)."""
    present, suspects = [], []
    if inv.dialect == "duckdb":
        here, where = here_sql(loc, inv.dialect)
        inv.cursor.execute(f'SELECT o."partition", o."size", o."last_modified" FROM {inv.objects} o '
                           f'WHERE o."data_type_id" = %s AND {here}', [spec.id, *where])
        rows = _fetched(inv.cursor)
    else:
        rows = (StoredObject.objects.filter(data_type_id=spec.id, store=loc.store, key__startswith=loc.prefix)
                .values_list("partition", "size", "last_modified").iterator(chunk_size=10_000))
    for partition, size, modified in rows:
        present.append(partition)
        if rule.kind(partition, size, modified) is not None:
            suspects.append(partition)
    return present, suspects


def newest_of(dt_id: int, partitions: list[str], loc, inv=None) -> dict:
    """The newest object (with its key) of each of these partitions, among rows under `loc` (of the
    inventory `inv` reads: StoredObject when None or on Django's connection)."""
    newest: dict = {}

    def add(rows):
        have_from_rows(((dt_id, part, key, size, lm) for part, store, key, size, lm in rows
                        if store == loc.store and key.startswith(loc.prefix)), newest)

    if inv is not None and inv.dialect == "duckdb":  # one pass over the files, the partitions joined
        import pyarrow as pa

        inv.cursor.con.register("adce_partitions", pa.table({"partition": pa.array(partitions, pa.string())}))
        try:
            inv.cursor.execute(f'SELECT o."partition", o."store", o."key", o."size", o."last_modified" '
                               f'FROM {inv.objects} o WHERE o."data_type_id" = %s AND o."partition" IN '
                               f'(SELECT "partition" FROM adce_partitions)', [dt_id])
            while rows := inv.cursor.fetchmany(10_000):
                add((part, store, key, size, _utc(lm)) for part, store, key, size, lm in rows)
        finally:
            inv.cursor.con.unregister("adce_partitions")
        return newest
    # Chunks of 100: without statistics (right after a bulk scan) PostgreSQL estimates a longer IN list
    # to match more rows than the whole data type and scans all of it instead of the index.
    for chunk in chunks(partitions, 100):
        add(StoredObject.objects.filter(data_type_id=dt_id, partition__in=chunk)
            .values_list("partition", "store", "key", "size", "last_modified"))
    return newest


def _fetched(cursor):
    while rows := cursor.fetchmany(10_000):
        yield from ((part, size, _utc(lm)) for part, size, lm in rows)


def _utc(value):
    """DuckDB's TIMESTAMPTZ (zoneinfo UTC) as Django gives it (datetime.timezone.utc)."""
    return value.astimezone(dt.timezone.utc)


@contextlib.contextmanager
def have_snapshot():
    """Several reads that see one state of the inventory, even while a scan commits: a transaction,
    REPEATABLE READ on PostgreSQL (SQLite's read transaction is a snapshot already). Inside a caller's
    transaction its isolation applies."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
