"""Re-derive the output schema of every published version: ``json`` outputs were all typed ``object``
(OCR ``lines`` is an array, the NSFW gate's ``blocked`` a boolean), and image descriptions read
"URL of the The …". Only ``output_schema`` changes; the frozen graph and inputs stay as published."""

from django.db import migrations


def rederive(apps, schema_editor):
    from pipelines.services import derive_schema

    PublishedVersion = apps.get_model("pipelines", "PublishedVersion")
    for version in PublishedVersion.objects.iterator():
        try:
            output_schema = derive_schema(version.graph)[1]
        except Exception:  # noqa: BLE001, S112 - a node type gone since: keep what was published
            continue
        if output_schema != version.output_schema:
            PublishedVersion.objects.filter(pk=version.pk).update(output_schema=output_schema)


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0002_session_key_spending_caps")]

    operations = [migrations.RunPython(rederive, migrations.RunPython.noop)]
