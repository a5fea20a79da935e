from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pipelines import nodes, receivers  # noqa: F401  (account_closing receivers)

        nodes.load_all()  # the whole node registry before the first request (imports no model weights)
