"""Navigation per role: one list, filtered by the roles the user holds.

A page appears here only when it exists; modules add their entries as they land.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import AREA_ROLES, Role


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str
    # None: every signed-in user.
    roles: frozenset[str] | None = None


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("home", _("Home")),
    NavItem("orgs:mine", _("My institution")),
    NavItem("orgs:institutions", _("Institutions in my jurisdiction"), frozenset(AREA_ROLES)),
    NavItem("api-docs", _("API documentation"), frozenset({Role.SYSTEM_ADMIN, Role.MCH_INFO_OFFICER})),
)


def nav_for(roles: frozenset[str]) -> list[NavItem]:
    return [item for item in NAV_ITEMS if item.roles is None or item.roles & roles]
