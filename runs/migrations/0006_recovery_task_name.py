from django.db import migrations

OLD, NEW = "runs.tasks.recover_stale_runs", "runs.recovery.recover_stale_runs"


def rename(apps, schema_editor, old=OLD, new=NEW):
    """The queue calls the sweep by its own module's name (runs.tasks only enqueues)."""
    apps.get_model("django_q", "Schedule").objects.filter(func=old).update(func=new)


def unrename(apps, schema_editor):
    rename(apps, schema_editor, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("runs", "0005_engine_v2"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]

    operations = [migrations.RunPython(rename, unrename)]
