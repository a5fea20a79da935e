from django.apps import AppConfig


class ShadersConfig(AppConfig):
    name = "shaders"
    default_auto_field = "django.db.models.BigAutoField"
