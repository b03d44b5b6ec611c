"""StoredObject: the unique constraint becomes (key, store), and on PostgreSQL the store, key and
partition columns compare byte by byte (COLLATE "C", see reconciliation.engine.fields).

Both make the first ingest's index builds cheaper (docs/benchmarks.md §3). Written as SQL because
Django's own operations would rebuild the million-row table on SQLite three times over and leave the
constraint inline in its CREATE TABLE (see 0003), where the bulk load could no longer drop it. Same
name, same semantics: one row per (store, key).
"""
from django.db import migrations, models

import reconciliation.engine.fields

TABLE = '"reconciliation_storedobject"'
COLLATED = '"store" TYPE varchar(255) COLLATE "{c}", ALTER COLUMN "key" TYPE text COLLATE "{c}", ' \
           'ALTER COLUMN "partition" TYPE varchar(64) COLLATE "{c}"'


def _sql(schema_editor, *, key_first: bool) -> list[str]:
    columns = '("key", "store")' if key_first else '("store", "key")'
    if schema_editor.connection.vendor == "postgresql":
        collation = "C" if key_first else "default"
        return [
            f'ALTER TABLE {TABLE} DROP CONSTRAINT "storedobject_unique_key"',
            f"ALTER TABLE {TABLE} ALTER COLUMN {COLLATED.format(c=collation)}",
            f'ALTER TABLE {TABLE} ADD CONSTRAINT "storedobject_unique_key" UNIQUE {columns}',
        ]
    return ['DROP INDEX "storedobject_unique_key"',
            f'CREATE UNIQUE INDEX "storedobject_unique_key" ON {TABLE} {columns}']


def forwards(apps, schema_editor):
    for sql in _sql(schema_editor, key_first=True):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in _sql(schema_editor, key_first=False):
        schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ("reconciliation", "0003_storedobject_sqlite_unique_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.RemoveConstraint(model_name="storedobject", name="storedobject_unique_key"),
                migrations.AlterField(model_name="storedobject", name="key",
                                      field=reconciliation.engine.fields.ByteOrderTextField()),
                migrations.AlterField(model_name="storedobject", name="partition",
                                      field=reconciliation.engine.fields.ByteOrderCharField(blank=True, max_length=64)),
                migrations.AlterField(model_name="storedobject", name="store",
                                      field=reconciliation.engine.fields.ByteOrderCharField(max_length=255)),
                migrations.AddConstraint(
                    model_name="storedobject",
                    constraint=models.UniqueConstraint(fields=("key", "store"), name="storedobject_unique_key"),
                ),
            ],
        ),
    ]
