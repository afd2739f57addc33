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
    # None: on the bar itself; otherwise the menu it sits in (GROUPS).
    group: str | None = None


SECURITY, ACCOUNT = "security", "account"
# Menus on the bar, in order: the security work of custodians and administrators, and each
# user's own account. Work pages stay on the bar itself.
GROUPS: dict[str, str] = {SECURITY: _("Security"), ACCOUNT: _("My account")}
_SECURITY_STAFF = frozenset({Role.DATA_CUSTODIAN, Role.LEADER, Role.SECURITY_ADMIN})

NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("home", _("Home")),
    NavItem("orgs:mine", _("My institution")),
    NavItem("orgs:institutions", _("Institutions in my jurisdiction"), frozenset(AREA_ROLES)),
    NavItem("people:search", _("Persons"), CASE_READERS),
    NavItem("maternal:worklist", _("Maternal care"), CASE_READERS),
    NavItem("approvals:list", _("Approvals")),
    NavItem("access:review_list", _("Emergency accesses"), frozenset({Role.LEADER, Role.DATA_CUSTODIAN})),
    NavItem("audit:events", _("Audit trail"), frozenset({Role.AUDIT_ADMIN})),
    NavItem("api-docs", _("API documentation"), frozenset({Role.SYSTEM_ADMIN, Role.MCH_INFO_OFFICER})),
    NavItem("accounts:notices", _("Notices")),
    # Security work (P3, P4, P5, P7, P18, P28, P29)
    NavItem("accounts:account_request", _("Request an account"), frozenset({Role.DATA_CUSTODIAN}), SECURITY),
    NavItem("accounts:handovers", _("Handovers"), frozenset({Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN}), SECURITY),
    NavItem("accounts:agreements", _("Security agreements"), _SECURITY_STAFF, SECURITY),
    NavItem(
        "accounts:mfa_register", _("Key register"), frozenset({Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN}), SECURITY
    ),
    NavItem("accounts:access_review", _("Access review"), frozenset({Role.SECURITY_ADMIN}), SECURITY),
    NavItem("accounts:lockouts", _("Lockouts"), frozenset({Role.SECURITY_ADMIN}), SECURITY),
    NavItem("accounts:compromise_list", _("Compromise reports"), frozenset({Role.SECURITY_ADMIN}), SECURITY),
    NavItem("accounts:networks", _("Registered networks"), frozenset({Role.SECURITY_ADMIN}), SECURITY),
    # The user's own account
    NavItem("accounts:mfa_keys", _("My electronic keys"), None, ACCOUNT),
    NavItem("accounts:sessions", _("My sessions"), None, ACCOUNT),
    NavItem("accounts:password_change", _("Change password"), None, ACCOUNT),
    NavItem("accounts:handovers", _("Handovers"), None, ACCOUNT),
    NavItem("accounts:compromise_report", _("Report suspected compromise"), None, ACCOUNT),
)


def nav_for(roles: frozenset[str]) -> list[NavItem]:
    """The items this user sees, each URL once (the first group that admits it wins)."""
    seen: set[str] = set()
    items = []
    for item in NAV_ITEMS:
        if (item.roles is None or item.roles & roles) and item.url_name not in seen:
            seen.add(item.url_name)
            items.append(item)
    return items


def nav_menus(roles: frozenset[str]) -> tuple[list[NavItem], list[tuple[str, list[NavItem]]]]:
    """(items on the bar, [(menu label, its items)]) for this user; empty menus left out."""
    items = nav_for(roles)
    bar = [i for i in items if i.group is None]
    menus = [(str(label), [i for i in items if i.group == key]) for key, label in GROUPS.items()]
    return bar, [(label, entries) for label, entries in menus if entries]
