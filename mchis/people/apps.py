from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "mchis.people"
    label = "people"
