from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mchis.accounts.models import User
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant, user_create
from mchis.orgs.models import Institution, InstitutionKind


@pytest.fixture
def users(demo):
    """Demo users by username."""
    return {u.username: u for u in User.objects.select_related("institution", "institution__region")}


@pytest.fixture
def other_county_info(users):
    """An MCH information officer of the second county: outside the demo county's jurisdiction."""
    county = users["info.mch"].institution.region
    mch = (
        Institution.objects.filter(kind=InstitutionKind.MCH_HOSPITAL, region__level=3)
        .exclude(region=county)
        .order_by("code")
        .first()
    )
    officer = user_create(username="info.other", display_name="邻县信息科", institution=mch, password="Xy7!other-info")
    role_grant(user=officer, role=Role.MCH_INFO_OFFICER, institution=mch)
    return officer


@pytest.fixture
def account_payload():
    def make(**overrides):
        payload = {
            "display_name": "新同事",
            "username": "new.colleague",
            "roles": [Role.CLINICIAN],
            "expires_on": (timezone.localdate() + timedelta(days=365)).isoformat(),
        }
        payload.update(overrides)
        return payload

    return make
