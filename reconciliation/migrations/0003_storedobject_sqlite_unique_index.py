"""SQLite only: make StoredObject's unique (store, key) constraint a standalone unique index.

Django writes a field-only UniqueConstraint into SQLite's CREATE TABLE, where it can never be dropped.
The first ingest of a million objects is a bulk load that drops the constraint and builds it once at
the end (reconciliation.engine.inventory), as on PostgreSQL; that needs it as `CREATE UNIQUE INDEX`, which is
what Django's own SQLite schema editor emits for UniqueConstraint.create_sql. Same name, same columns,
same semantics (ON CONFLICT ("store", "key") still targets it); the model state does not change.
"""
from django.db import migrations

INLINE = ', CONSTRAINT "storedobject_unique_key" UNIQUE ("store", "key")'


def standalone_unique_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    model = apps.get_model("reconciliation", "StoredObject")
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
        (create,) = cur.fetchone()
        if INLINE not in create:
            return  # already standalone (or made by a later schema): nothing to do
        cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", [table])
        indexes = [row[0] for row in cur.fetchall()]
        cur.execute(create.replace(INLINE, "").replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "new__{table}"', 1))
        cur.execute(f'INSERT INTO "new__{table}" SELECT * FROM "{table}"')
        cur.execute(f'DROP TABLE "{table}"')
        cur.execute(f'ALTER TABLE "new__{table}" RENAME TO "{table}"')
        for sql in indexes:
            cur.execute(sql)
        cur.execute(f'CREATE UNIQUE INDEX "storedobject_unique_key" ON "{table}" ("store", "key")')


class Migration(migrations.Migration):

    dependencies = [
        ("reconciliation", "0002_storedobject_bulk_friendly"),
    ]

    operations = [
        migrations.RunPython(standalone_unique_index, migrations.RunPython.noop, elidable=False),
    ]
