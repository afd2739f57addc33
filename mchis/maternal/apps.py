from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaternalConfig(AppConfig):
    name = "mchis.maternal"
    label = "maternal"
    verbose_name = _("maternal care")
