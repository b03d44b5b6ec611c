"""Rescan of a never-analysed inventory on PostgreSQL (issue 15 item 3): the time of the second
inventory swap (InventoryStaging.replace) of one prefix region and the plans of its two diff statements.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB python bench/rescan_plan.py N PREFIX MODE

MODE: `none` (the table as the first inventory left it), `empty-analysed` (ANALYZE while empty first),
`forget` (statistics deleted before the rescan). It TRUNCATEs the inventory of DB: use a scratch
database (migrated first).
"""
import os, sys, django
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
django.setup()
from django.db import connection
from reconciliation.engine.inventory import InventoryStaging
from reconciliation.engine.inventory_sql import STAGING_SCHEMA, Region
from reconciliation.storage.batches import batch_from_tuples
from reconciliation.models import StoredObject
import datetime as dt
T = dt.datetime(2024,5,1,tzinfo=dt.timezone.utc)
TABLE = StoredObject._meta.db_table
n = int(sys.argv[1]); prefix = sys.argv[2]; mode = sys.argv[3]
def row(store, key, size=10): return (store, key, size, T, "etag", None, None, "", None)
def inventory_replace(regions, rows):
    with InventoryStaging() as staging:
        staging.add_batch(batch_from_tuples(rows, STAGING_SCHEMA))
        return staging.replace(regions)
with connection.cursor() as cur:
    cur.execute(f"TRUNCATE {TABLE} CASCADE")
    cur.execute(f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")
    if mode == "empty-analysed":
        cur.execute(f"ANALYZE {TABLE}")
inventory_replace([Region("s3://lake", prefix)], [row("s3://lake", f"{prefix}k/{i:06d}") for i in range(n)])
with connection.cursor() as cur:
    if mode == "forget":
        cur.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [TABLE])
        cur.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [TABLE])
    cur.execute("select reltuples, relpages from pg_class where oid=%s::regclass", [TABLE]); print(cur.fetchone())
plans=[]
def explain(execute, sql, params, many, context):
    head = sql.lstrip().upper()
    if not many and (head.startswith(f"DELETE FROM {TABLE.upper()}") or head.startswith(f"INSERT INTO {TABLE.upper()}")):
        raw = context["cursor"].cursor
        raw.execute("EXPLAIN " + sql, params)
        plans.append("\n".join(r[0] for r in raw.fetchall()))
    return execute(sql, params, many, context)
import time
t0=time.time()
with connection.execute_wrapper(explain):
    print(inventory_replace([Region("s3://lake", prefix)], [row("s3://lake", f"{prefix}k/{i:06d}") for i in range(1, n)]))
print("rescan", time.time()-t0)
for p in plans: print(p); print("--")
