"""Postgres only: a generated tsvector over name and card text with a GIN index, and a trigram index on the
repo id for substring search. SQLite falls back to LIKE (see selectors._full_text)."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """ALTER TABLE registry_repo ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', replace(replace(coalesce(full_name, ''), '/', ' '), '-', ' ')), 'A') ||
        setweight(to_tsvector('english', coalesce(search_text, '')), 'B')
    ) STORED""",
    "CREATE INDEX registry_repo_search_vector ON registry_repo USING GIN (search_vector)",
    "CREATE INDEX registry_repo_full_name_trgm ON registry_repo USING GIN (full_name gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS registry_repo_full_name_trgm",
    "DROP INDEX IF EXISTS registry_repo_search_vector",
    "ALTER TABLE registry_repo DROP COLUMN IF EXISTS search_vector",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
