"""The authorization matrix: every URL of the system and who may reach it.

Each named URL pattern has exactly one rule. `AuthorizationMatrixMiddleware` enforces the
rules of web pages and refuses any URL missing from the matrix (fail closed); API routes are
enforced by their DRF permission classes and declared here so that the matrix lists them.
`tests/access/test_matrix.py` walks the URL configuration and fails on any URL without a rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from mchis.access.levels import ROLE_CLEARANCE, WRITER_ROLES, Level
from mchis.accounts.roles import AREA_ROLES, Role


@dataclass(frozen=True)
class Rule:
    # "public": anyone; "authenticated": any signed-in user; "roles": signed-in with one of `roles`.
    kind: str
    roles: frozenset[str] = frozenset()
    # API routes authenticate in DRF (sessions now, machine credentials later).
    api: bool = False

    def admits(self, user) -> bool:
        if self.kind == "public":
            return True
        if not user.is_authenticated:
            return False
        return self.kind == "authenticated" or bool(self.roles & user.role_names())


PUBLIC = Rule("public")
SIGNED_IN = Rule("authenticated")
API_SIGNED_IN = Rule("authenticated", api=True)


def roles(*names: str) -> Rule:
    return Rule("roles", frozenset(names))


# Roles cleared for case data (L3 and above).
CASE_READERS = frozenset(role for role, level in ROLE_CLEARANCE.items() if level >= Level.L3)

URL_RULES: dict[str, Rule] = {
    # Shell
    "login": PUBLIC,
    "logout": SIGNED_IN,
    "set_language": PUBLIC,
    "healthz": PUBLIC,
    "home": SIGNED_IN,
    # Jurisdiction tree
    "orgs:mine": SIGNED_IN,
    "orgs:institutions": roles(*AREA_ROLES),
    # Person registry (P17: clearance L3 and above; registering is clinical work)
    "people:search": roles(*CASE_READERS),
    "people:detail": roles(*CASE_READERS),
    "people:register": roles(*WRITER_ROLES),
    # Break-glass access (P5): opened by clinicians, reviewed by leaders and custodians
    "access:break_glass": roles(*WRITER_ROLES),
    "access:review_list": roles(Role.LEADER, Role.DATA_CUSTODIAN),
    "access:review": roles(Role.LEADER, Role.DATA_CUSTODIAN),
    # Audit trail
    "audit:events": roles(Role.AUDIT_ADMIN),
    "audit:object": roles(Role.AUDIT_ADMIN),
    "audit:seen_by": roles(Role.AUDIT_ADMIN),
    "audit:denials": roles(Role.AUDIT_ADMIN),
    "audit:event": roles(Role.AUDIT_ADMIN),
    # REST API
    "api-root": API_SIGNED_IN,
    "api-schema": API_SIGNED_IN,
    "api-docs": API_SIGNED_IN,
    "region-list": API_SIGNED_IN,
    "region-detail": API_SIGNED_IN,
    "institution-list": API_SIGNED_IN,
    "institution-detail": API_SIGNED_IN,
}
