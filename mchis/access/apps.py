from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "mchis.access"
    label = "access"
