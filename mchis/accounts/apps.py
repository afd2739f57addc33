from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "mchis.accounts"
    label = "accounts"
    verbose_name = _("accounts")

    def ready(self):
        # Session tracking: a row per login, ended at logout (signal receivers).
        from mchis.accounts import sessions  # noqa: F401
