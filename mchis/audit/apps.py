from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "mchis.audit"
    label = "audit"
    verbose_name = _("audit trail")

    def ready(self):
        from mchis.audit import signals  # noqa: F401 (connects the login receivers)
