from django.apps import AppConfig


class ShadersConfig(AppConfig):
    name = "shaders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shaders import receivers  # noqa: F401  (account_closing receivers)
