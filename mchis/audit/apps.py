from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "mchis.audit"
    label = "audit"
    verbose_name = _("audit trail")

    def ready(self):
        from django.db.models.signals import pre_migrate

        from mchis.audit import signals  # noqa: F401 (connects the login receivers)
        from mchis.audit.guards import refuse_unapplying_audit

        pre_migrate.connect(refuse_unapplying_audit, dispatch_uid="mchis.audit.refuse_unapplying_audit")
