"""Schedule the hourly desire-heat refresh on the django-q2 cluster (recency decays even when nothing changes)."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="refresh desire heat",
        defaults={"func": "shaders.desires.refresh_heat", "schedule_type": "H", "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="refresh desire heat").delete()


class Migration(migrations.Migration):
    dependencies = [("shaders", "0002_pg_trgm"),
                    ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
