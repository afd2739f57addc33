from django.db import models
from django.utils.translation import gettext_lazy as _


class Installation(models.Model):
    """Facts about this installation (one row). A demo database says so on every page."""

    is_demo = models.BooleanField(_("synthetic demo data"), default=False)
    demo_size = models.CharField(max_length=16, blank=True)
    demo_seed = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("installation")

    def __str__(self) -> str:
        return "demo" if self.is_demo else "installation"

    @classmethod
    def current(cls) -> "Installation | None":
        return cls.objects.filter(pk=1).first()
