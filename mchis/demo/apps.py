from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "mchis.demo"
    label = "demo"
