from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import AREA_ROLES, Role
from mchis.orgs.models import Institution, Region


class User(AbstractUser):
    """A person who logs in. Names are one field: Chinese names do not split into first/last."""

    display_name = models.CharField(_("name"), max_length=50)
    institution = models.ForeignKey(
        Institution,
        verbose_name=_("institution"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    def active_roles(self) -> list[RoleAssignment]:
        """The user's current role assignments, cached on the instance for the request."""
        cached = getattr(self, "_active_roles", None)
        if cached is None:
            now = timezone.now()
            cached = list(
                self.role_assignments.select_related("institution", "institution__region")
                .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
                .order_by("role")
            )
            self._active_roles = cached
        return cached

    def role_names(self) -> frozenset[str]:
        return frozenset(a.role for a in self.active_roles())

    def jurisdiction(self) -> Region | None:
        """The widest region this user's area roles reach (None: own institution only)."""
        regions = [a.institution.region for a in self.active_roles() if a.role in AREA_ROLES]
        return min(regions, key=lambda r: r.level) if regions else None


class RoleAssignment(models.Model):
    """A role held by a user at an institution, optionally until an expiry date."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT)
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)
    granted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [models.UniqueConstraint(fields=["user", "role", "institution"], name="role_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.institution}"
