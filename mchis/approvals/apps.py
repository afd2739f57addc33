from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "mchis.approvals"
    label = "approvals"
    verbose_name = _("approvals")

    def ready(self) -> None:
        # Each app declares its kinds of request in its own `approval_kinds` module; importing
        # them here registers them once, before the first request (DESIGN "Approvals").
        from django.utils.module_loading import autodiscover_modules

        from mchis.accounts.handover import handover_mover_register
        from mchis.approvals.services import approvals_move

        autodiscover_modules("approval_kinds")
        # A leaver's pending requests follow their work to the successor (P29).
        handover_mover_register(name="approvals", mover=approvals_move)
