"""§10: dimensions, open data types, the original's coverage file.

DataType gains its own seasons, closed dimension values, a declared count and the original's
description/priority/tier; DimensionValue holds dimension catalogs; Gap gains `shortfall` and the
`short` kind; partitions grow to 255 characters (dimension values follow the level id). The inventory's
partition column is widened in SQL on PostgreSQL (a varchar widening rewrites nothing) and not at all on
SQLite (which enforces no length): Django's AlterField would rebuild the million-row table there and
lose the bulk-friendly unique index of 0003/0004.
"""

import django.db.models.deletion
import reconciliation.engine.fields
from django.db import migrations, models


def _partition_type(schema_editor, length: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "reconciliation_storedobject" ALTER COLUMN "partition" '
                              f'TYPE varchar({length}) COLLATE "C"')


def _widen_partition(apps, schema_editor):
    _partition_type(schema_editor, 255)


def _narrow_partition(apps, schema_editor):
    _partition_type(schema_editor, 64)


class Migration(migrations.Migration):

    dependencies = [
        ('reconciliation', '0006_run_record_status'),
    ]

    operations = [
        migrations.AddField(
            model_name='datatype',
            name='description',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='datatype',
            name='dimensions',
            field=models.JSONField(blank=True, default=dict, help_text='Closed dimension values from the YAML.'),
        ),
        migrations.AddField(
            model_name='datatype',
            name='expected_count',
            field=models.PositiveIntegerField(blank=True, help_text='expected_per_season / expected_count (open data types).', null=True),
        ),
        migrations.AddField(
            model_name='datatype',
            name='priority',
            field=models.CharField(blank=True, help_text="The original's priority, as written.", max_length=40),
        ),
        migrations.AddField(
            model_name='datatype',
            name='seasons',
            field=models.JSONField(blank=True, default=list, help_text='Normalised "YYYY-YY" seasons; empty = the source\'s.'),
        ),
        migrations.AddField(
            model_name='datatype',
            name='tier',
            field=models.CharField(blank=True, help_text="The original's tier, as written.", max_length=40),
        ),
        migrations.AddField(
            model_name='gap',
            name='shortfall',
            field=models.PositiveIntegerField(blank=True, help_text='A short gap: partitions still to find.', null=True),
        ),
        migrations.AlterField(
            model_name='gap',
            name='kind',
            field=models.CharField(choices=[('missing', 'Missing'), ('empty', 'Empty'), ('stale', 'Stale'), ('short', 'Short')], max_length=10),
        ),
        migrations.AlterField(
            model_name='gap',
            name='partition',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_widen_partition, _narrow_partition, elidable=False)],
            state_operations=[migrations.AlterField(
                model_name='storedobject',
                name='partition',
                field=reconciliation.engine.fields.ByteOrderCharField(blank=True, max_length=255),
            )],
        ),
        migrations.AlterField(
            model_name='task',
            name='gap_kind',
            field=models.CharField(choices=[('missing', 'Missing'), ('empty', 'Empty'), ('stale', 'Stale'), ('short', 'Short')], max_length=10),
        ),
        migrations.CreateModel(
            name='DimensionValue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dimension', models.CharField(max_length=100)),
                ('value', models.CharField(max_length=200)),
                ('season', models.CharField(blank=True, max_length=7, null=True)),
                ('source', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='dimension_values', to='reconciliation.source')),
            ],
            options={
                'ordering': ['source', 'dimension', 'value', 'season'],
                'indexes': [models.Index(fields=['source', 'dimension'], name='dimension_value_source')],
            },
        ),
    ]
