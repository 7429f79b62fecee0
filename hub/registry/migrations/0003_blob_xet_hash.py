from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_postgres_search")]

    operations = [
        migrations.AddField(
            model_name="blob",
            name="xet_hash",
            field=models.CharField(
                blank=True, default="", help_text="Xet file hash when the content is stored as Xet chunks", max_length=64
            ),
        ),
    ]
