from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "mchis.orgs"
    label = "orgs"
