"""The Fluxara beta gate (runs.beta): create its group and approve every account that exists now, so the gate
only applies to accounts made after it."""

from django.conf import settings
from django.db import migrations

BETA_GROUP = "Fluxara beta"


def approve_existing(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    group, _ = Group.objects.get_or_create(name=BETA_GROUP)
    group.user_set.add(*User.objects.values_list("pk", flat=True))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=BETA_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0003_run_request_hash"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(approve_existing, remove_group)]
