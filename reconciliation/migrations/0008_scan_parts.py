"""Issue 23 item 4: the scale-out scan's one row per data file (ScanPart) and ScanRun.parallel."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reconciliation', '0007_dimensions_open_data_types'),
    ]

    operations = [
        migrations.AddField(
            model_name='scanrun',
            name='parallel',
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name='ScanPart',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField(help_text="Position in the manifest: a later file's row wins a key.")),
                ('file_key', models.TextField()),
                ('file_uri', models.TextField()),
                ('file_size', models.BigIntegerField(blank=True, null=True)),
                ('file_md5', models.CharField(blank=True, max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('finishing', 'Finishing'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=12)),
                ('token', models.CharField(blank=True, help_text='The claim of the worker that runs it.', max_length=32)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('rows', models.BigIntegerField(default=0)),
                ('stats', models.JSONField(blank=True, default=dict, help_text='Per-location counts of this file.')),
                ('error', models.TextField(blank=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('scan', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parts', to='reconciliation.scanrun')),
            ],
            options={
                'ordering': ['scan', 'seq'],
                'constraints': [models.UniqueConstraint(fields=('scan', 'seq'), name='scanpart_unique_seq')],
            },
        ),
    ]
