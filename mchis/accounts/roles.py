"""The roles of DESIGN.md ("Roles") and the rules that hold between them (P17, P19).

Roles are a fixed vocabulary in code because the policy layer, the navigation and the
separation-of-duties checks are written against them; which person holds which role, where,
is data (`RoleAssignment`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from mchis.orgs.models import InstitutionKind, RegionLevel


class Role(models.TextChoices):
    CLINICIAN = "clinician", _("clinician")
    PMTCT_OFFICER = "pmtct_officer", _("PMTCT officer")
    DATA_CUSTODIAN = "data_custodian", _("data custodian")
    LEADER = "leader", _("leader")
    MCH_INFO_OFFICER = "mch_info_officer", _("MCH information officer")
    HEALTH_ADMIN = "health_admin", _("health administration")
    INSPECTOR = "inspector", _("inspector")
    SYSTEM_ADMIN = "system_admin", _("system administrator")
    SECURITY_ADMIN = "security_admin", _("security administrator")
    AUDIT_ADMIN = "audit_admin", _("audit administrator")


CLINICAL_ROLES = frozenset({Role.CLINICIAN, Role.PMTCT_OFFICER})
# 三员分立 (P19): no account holds two of these, and none of them holds a clinical role.
TECHNICAL_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
# Roles whose reach is the region of their institution and everything under it; the others
# reach their own institution only.
AREA_ROLES = frozenset(
    {Role.MCH_INFO_OFFICER, Role.HEALTH_ADMIN, Role.INSPECTOR, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN, Role.SYSTEM_ADMIN}
)

_CARE = frozenset(
    {
        InstitutionKind.MCH_HOSPITAL,
        InstitutionKind.GENERAL_HOSPITAL,
        InstitutionKind.TCM_HOSPITAL,
        InstitutionKind.TOWNSHIP_HEALTH_CENTRE,
        InstitutionKind.COMMUNITY_HEALTH_CENTRE,
    }
)
_ALL = _CARE | {InstitutionKind.HEALTH_ADMINISTRATION}
_COUNTY_UP = frozenset({RegionLevel.NATION, RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY})

# Which kinds of institution a role may be held at.
ROLE_INSTITUTION_KINDS: dict[str, frozenset[str]] = {
    Role.CLINICIAN: _CARE,
    Role.PMTCT_OFFICER: _CARE,
    Role.DATA_CUSTODIAN: _ALL,
    Role.LEADER: _ALL,
    Role.MCH_INFO_OFFICER: frozenset({InstitutionKind.MCH_HOSPITAL}),
    Role.HEALTH_ADMIN: frozenset({InstitutionKind.HEALTH_ADMINISTRATION}),
    Role.INSPECTOR: frozenset({InstitutionKind.HEALTH_ADMINISTRATION, InstitutionKind.MCH_HOSPITAL}),
    Role.SYSTEM_ADMIN: _ALL,
    Role.SECURITY_ADMIN: _ALL,
    Role.AUDIT_ADMIN: _ALL,
}
# County-and-above roles (DESIGN.md) need an institution at county level or above.
ROLE_MIN_LEVELS: dict[str, frozenset[int]] = {
    Role.MCH_INFO_OFFICER: _COUNTY_UP,
    Role.HEALTH_ADMIN: _COUNTY_UP,
    Role.INSPECTOR: _COUNTY_UP,
}
