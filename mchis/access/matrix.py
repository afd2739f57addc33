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
    # API routes authenticate in DRF (sessions, machine credentials) and their rule is
    # checked there, after authentication (mchis.api.permissions.MatrixPermission).
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


def api_roles(*names: str) -> Rule:
    """An API route for these roles (enforced by mchis.api.permissions.MatrixPermission)."""
    return Rule("roles", frozenset(names), api=True)


# Roles cleared for case data (L3 and above).
CASE_READERS = frozenset(role for role, level in ROLE_CLEARANCE.items() if level >= Level.L3)
# Writers cleared for the highly sensitive level (L5: PMTCT results, P17): the PMTCT officer.
L5_WRITERS = frozenset(role for role in WRITER_ROLES if ROLE_CLEARANCE[role] >= Level.L5)

URL_RULES: dict[str, Rule] = {
    # Shell
    "login": PUBLIC,
    "logout": SIGNED_IN,
    "set_language": PUBLIC,
    "healthz": PUBLIC,
    "home": SIGNED_IN,
    # Account security (P7, P26): own password and sessions; lockouts for security administrators
    "accounts:password_change": SIGNED_IN,
    "accounts:sessions": SIGNED_IN,
    "accounts:session_end": SIGNED_IN,
    "accounts:sessions_end_others": SIGNED_IN,
    "accounts:lockouts": roles(Role.SECURITY_ADMIN),
    "accounts:lockout_lift": roles(Role.SECURITY_ADMIN),
    # Jurisdiction tree
    "orgs:mine": SIGNED_IN,
    "orgs:institutions": roles(*AREA_ROLES),
    # Person registry (P17: clearance L3 and above; registering is clinical work)
    "people:search": roles(*CASE_READERS),
    "people:detail": roles(*CASE_READERS),
    "people:register": roles(*WRITER_ROLES),
    # Maternal care (issue 5): case readers read (the selectors narrow to their reach);
    # writing is clinical work, and the services refuse writers outside the owner.
    "maternal:worklist": roles(*CASE_READERS),
    "maternal:pregnancy": roles(*CASE_READERS),
    "maternal:transfers": roles(*WRITER_ROLES),
    "maternal:transfer_decide": roles(*WRITER_ROLES),
    "maternal:register": roles(*WRITER_ROLES),
    "maternal:visit_new": roles(*WRITER_ROLES),
    "maternal:grading_new": roles(*WRITER_ROLES),
    "maternal:delivery_new": roles(*WRITER_ROLES),
    "maternal:postpartum_new": roles(*WRITER_ROLES),
    "maternal:transfer_new": roles(*WRITER_ROLES),
    # Case management, referrals, corrections, closing, discharge, cancelling a transfer: the
    # services admit the writers of the owner (a referral institution too, except to cancel
    # the owner's transfer); others, as readers, get the not-found answer.
    "maternal:episode_edit": roles(*WRITER_ROLES),
    "maternal:episode_close": roles(*WRITER_ROLES),
    "maternal:discharge_new": roles(*WRITER_ROLES),
    "maternal:case_report": roles(*WRITER_ROLES),
    "maternal:case_close": roles(*WRITER_ROLES),
    "maternal:referral_new": roles(*WRITER_ROLES),
    "maternal:referral_outcome": roles(*WRITER_ROLES),
    "maternal:transfer_cancel": roles(*WRITER_ROLES),
    # PMTCT results (L5, P17): writers cleared for L5 only; below, the same 404 as no page.
    "maternal:infections": roles(*L5_WRITERS),
    # Break-glass access (P5): opened by clinicians, reviewed by leaders and custodians
    "access:break_glass": roles(*WRITER_ROLES),
    "access:review_list": roles(Role.LEADER, Role.DATA_CUSTODIAN),
    "access:review": roles(Role.LEADER, Role.DATA_CUSTODIAN),
    # Audit trail
    "audit:events": roles(Role.AUDIT_ADMIN),
    "audit:person": roles(Role.AUDIT_ADMIN),
    "audit:object": roles(Role.AUDIT_ADMIN),
    "audit:seen_by": roles(Role.AUDIT_ADMIN),
    "audit:denials": roles(Role.AUDIT_ADMIN),
    "audit:event": roles(Role.AUDIT_ADMIN),
    # Security agreements (P18): every user reads and accepts their institution's; the
    # institution's custodian or leader, or a security administrator over it, publishes.
    "accounts:agreement": SIGNED_IN,
    "accounts:agreements": roles(Role.DATA_CUSTODIAN, Role.LEADER, Role.SECURITY_ADMIN),
    "accounts:agreement_publish": roles(Role.DATA_CUSTODIAN, Role.LEADER, Role.SECURITY_ADMIN),
    # Suspected compromise (P4): anyone reports; the security administrator clears.
    "accounts:compromise_report": SIGNED_IN,
    "accounts:compromise_list": roles(Role.SECURITY_ADMIN),
    "accounts:compromise_clear": roles(Role.SECURITY_ADMIN),
    # Access review (P4) and registered networks (P5): the security administrator's.
    "accounts:access_review": roles(Role.SECURITY_ADMIN),
    "accounts:access_review_disable": roles(Role.SECURITY_ADMIN),
    "accounts:networks": roles(Role.SECURITY_ADMIN),
    "accounts:network_edit": roles(Role.SECURITY_ADMIN),
    "accounts:network_remove": roles(Role.SECURITY_ADMIN),
    # Each user's own notices
    "accounts:notices": SIGNED_IN,
    "accounts:notice_read": SIGNED_IN,
    "accounts:notices_read_all": SIGNED_IN,
    # Electronic keys (P28, P29): every user enrols, verifies and manages their own; the key
    # register is kept by data custodians and security administrators (scoped in the selector).
    "accounts:mfa_keys": SIGNED_IN,
    "accounts:mfa_enrol": SIGNED_IN,
    "accounts:mfa_totp_start": SIGNED_IN,
    "accounts:mfa_totp_confirm": SIGNED_IN,
    "accounts:mfa_webauthn_register_options": SIGNED_IN,
    "accounts:mfa_webauthn_register": SIGNED_IN,
    "accounts:mfa_verify": SIGNED_IN,
    "accounts:mfa_webauthn_auth_options": SIGNED_IN,
    "accounts:mfa_webauthn_auth": SIGNED_IN,
    "accounts:mfa_key_lost": SIGNED_IN,
    "accounts:mfa_recovery_codes": SIGNED_IN,
    "accounts:mfa_register": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    "accounts:mfa_register_returned": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    "accounts:mfa_register_revoke": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    "accounts:mfa_register_issue": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    "accounts:mfa_register_lost": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    # Account lifecycle (P29, P3): the custodian requests accounts; handovers are started by
    # the custodian or a security administrator, and confirmed by leaver and successor (any
    # role: the pages check who takes part).
    "accounts:account_request": roles(Role.DATA_CUSTODIAN),
    "accounts:handovers": SIGNED_IN,
    "accounts:handover_start": roles(Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN),
    "accounts:handover_detail": SIGNED_IN,
    "accounts:handover_confirm": SIGNED_IN,
    # Approvals (DESIGN "Approvals"): anyone may have requests or decide some; each request
    # is visible to its requester and its possible deciders only (mchis.approvals.selectors).
    "approvals:list": SIGNED_IN,
    "approvals:detail": SIGNED_IN,
    "approvals:decide": SIGNED_IN,
    "approvals:withdraw": SIGNED_IN,
    "approvals:secret": SIGNED_IN,
    # REST API
    "api-root": API_SIGNED_IN,
    "api-schema": API_SIGNED_IN,
    "api-docs": API_SIGNED_IN,
    "region-list": API_SIGNED_IN,
    "region-detail": API_SIGNED_IN,
    "institution-list": API_SIGNED_IN,
    "institution-detail": API_SIGNED_IN,
    # Person registry (P17: case readers; registering and changing are clinical work, which
    # the registry's services check per record: others get the not-found answer)
    "person-list": api_roles(*CASE_READERS),
    "person-detail": api_roles(*CASE_READERS),
    "person-search": api_roles(*CASE_READERS),
    # Maternal care (issue 5 item 8): case readers; registering and recording are clinical
    # work, which the maternal services check per episode (others get the not-found answer).
    "pregnancy-list": api_roles(*CASE_READERS),
    "pregnancy-detail": api_roles(*CASE_READERS),
    "pregnancy-visits": api_roles(*CASE_READERS),
    "pregnancy-risk-gradings": api_roles(*CASE_READERS),
    "pregnancy-delivery": api_roles(*CASE_READERS),
    "pregnancy-postpartum-visits": api_roles(*CASE_READERS),
}
