from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mchis.audit"
    label = "audit"
