from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaternalConfig(AppConfig):
    name = "mchis.maternal"
    label = "maternal"
    verbose_name = _("maternal care")

    def ready(self):
        # "Who saw this person's records" covers her episodes and their records too.
        from mchis.audit.subjects import subject_provider_register
        from mchis.maternal.selectors import pregnancy_records_for_audit

        subject_provider_register(pregnancy_records_for_audit)
