"""Navigation per role: one list, filtered by the roles the user holds.

A page appears here only when it exists; modules add their entries as they land.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from mchis.access.matrix import CASE_READERS
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
    NavItem("people:search", _("Persons"), CASE_READERS),
    NavItem("access:review_list", _("Emergency accesses"), frozenset({Role.LEADER, Role.DATA_CUSTODIAN})),
    NavItem("audit:events", _("Audit trail"), frozenset({Role.AUDIT_ADMIN})),
    NavItem("api-docs", _("API documentation"), frozenset({Role.SYSTEM_ADMIN, Role.MCH_INFO_OFFICER})),
)


def nav_for(roles: frozenset[str]) -> list[NavItem]:
    return [item for item in NAV_ITEMS if item.roles is None or item.roles & roles]
