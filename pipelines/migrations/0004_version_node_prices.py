from django.db import migrations, models


def freeze_prices(apps, schema_editor):
    """Versions published before prices were frozen keep what they were published at: the version's total
    spread over its nodes at the prices of the day (the nodes' own prices, which summed to that total)."""
    from pipelines.nodes.base import get_node_type

    PublishedVersion = apps.get_model("pipelines", "PublishedVersion")
    for version in PublishedVersion.objects.filter(node_prices={}).iterator():
        prices = {}
        for node in version.graph.get("nodes", []):
            node_type = get_node_type(node.get("type", ""))
            prices[node["id"]] = node_type.credit_cost if node_type else 0
        version.node_prices = prices
        version.save(update_fields=["node_prices"])


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0003_output_schema_types")]

    operations = [
        migrations.AddField(
            model_name="publishedversion",
            name="node_prices",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Credits per node id, frozen at publish: what a run of it is charged",
            ),
        ),
        migrations.RunPython(freeze_prices, migrations.RunPython.noop),
    ]
