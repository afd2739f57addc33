"""Data levels (分级管理, P17) and the clearance each role grants.

| level | examples |
|---|---|
| L1 public | published indicators |
| L2 internal | unpublished aggregates, report tables, institution lists |
| L3 sensitive | case data without direct identifiers (visit measurements, risk colour) |
| L4 personal | direct identifiers with health data: name, ID number, phone, address |
| L5 highly sensitive | HIV, syphilis, hepatitis B results and treatment; death case reviews |
| S classified | state secrets: only through an approved, time-limited request (P31) |
"""

from __future__ import annotations

from enum import IntEnum

from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import Role


class Level(IntEnum):
    L1 = 1
    L2 = 2
    L3 = 3
    L4 = 4
    L5 = 5
    S = 6

    @property
    def label(self) -> str:
        return str(LEVEL_LABELS[self])


LEVEL_LABELS = {
    Level.L1: _("L1 public"),
    Level.L2: _("L2 internal"),
    Level.L3: _("L3 sensitive"),
    Level.L4: _("L4 personal"),
    Level.L5: _("L5 highly sensitive"),
    Level.S: _("S classified"),
}

# The highest level each role may read inside its jurisdiction. Technical roles see no health
# data at all (P19): their ceiling is L2. Nobody reaches S through a role (P31).
ROLE_CLEARANCE: dict[str, Level] = {
    Role.CLINICIAN: Level.L4,
    Role.PMTCT_OFFICER: Level.L5,
    Role.DATA_CUSTODIAN: Level.L4,
    Role.LEADER: Level.L3,
    Role.MCH_INFO_OFFICER: Level.L4,
    Role.HEALTH_ADMIN: Level.L2,
    Role.INSPECTOR: Level.L3,
    Role.SYSTEM_ADMIN: Level.L2,
    Role.SECURITY_ADMIN: Level.L2,
    Role.AUDIT_ADMIN: Level.L2,
}

# Roles whose holders may write case records of their institution.
WRITER_ROLES = frozenset({Role.CLINICIAN, Role.PMTCT_OFFICER})

# Roles cleared for health data (above L2). P19: no technical administrator holds one of
# these beside their technical role (mchis.accounts.services._role_problem).
HEALTH_DATA_ROLES = frozenset(role for role, level in ROLE_CLEARANCE.items() if level > Level.L2)
