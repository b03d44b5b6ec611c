"""Issue 23 item 3: the store's inventory snapshot (a Parquet file a rescan diffs against) and the touch log."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import reconciliation.engine.fields


class Migration(migrations.Migration):

    dependencies = [
        ('reconciliation', '0008_scan_parts'),
    ]

    operations = [
        migrations.CreateModel(
            name='InventorySnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('store', reconciliation.engine.fields.ByteOrderCharField(max_length=255, unique=True)),
                ('regions', models.JSONField(default=list, help_text='[store, prefix] pairs the scan replaced, sorted.')),
                ('path', models.CharField(max_length=1024)),
                ('rows', models.BigIntegerField()),
                ('unique_keys', models.BooleanField(null=True)),
                ('touch_mark', models.BigIntegerField(default=0, help_text='The highest InventoryTouch id the file includes.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('scan', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='reconciliation.scanrun')),
            ],
        ),
        migrations.CreateModel(
            name='InventoryTouch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('store', reconciliation.engine.fields.ByteOrderCharField(max_length=255)),
                ('key', reconciliation.engine.fields.ByteOrderTextField()),
            ],
            options={
                'indexes': [models.Index(fields=['store', 'id'], name='inventorytouch_store_id')],
            },
        ),
    ]
