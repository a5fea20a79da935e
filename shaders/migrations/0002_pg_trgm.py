"""Trigram title search on PostgreSQL: the pg_trgm extension and a GIN index on Shader.title.

A no-op on other databases (SQLite searches with icontains). Where the role may not create the extension,
the migration still succeeds and search falls back to icontains (shaders.services.trigram_available).
"""

from django.db import migrations, transaction


def create_trigram(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # noqa: BLE001 - insufficient privilege: keep the icontains fallback
            return
        cursor.execute("CREATE INDEX IF NOT EXISTS shaders_shader_title_trgm "
                       "ON shaders_shader USING gin (title gin_trgm_ops)")


def drop_trigram(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS shaders_shader_title_trgm")


class Migration(migrations.Migration):
    dependencies = [("shaders", "0001_initial")]

    operations = [migrations.RunPython(create_trigram, drop_trigram)]
