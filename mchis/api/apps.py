from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mchis.api"
    label = "api"

    def ready(self):
        # Registers the OpenAPI description of the machine-client credentials.
        from mchis.api import schema  # noqa: F401
