from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "mchis.ops"
    label = "ops"
