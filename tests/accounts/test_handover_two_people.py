"""A handover is confirmed by two people (P29; P3, P19). The starter may confirm for a
leaver who has gone, so the starter must not also be the successor: one person would then
give both confirmations, close a colleague's account and take over their work alone."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.accounts.handover import handover_start
from mchis.accounts.models import Handover, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.select_related("institution")}


def start(users, *, by, successor):
    return handover_start(
        actor=users[by],
        from_user=users["clinician.mch"],
        to_user=users[successor],
        leaving_on=timezone.localdate() + timedelta(days=3),
        note="调岗",
    )


@pytest.mark.parametrize("keeper", ["custodian.mch", "secadmin"])
def test_the_starter_of_a_handover_cannot_be_its_successor(users, keeper):
    with pytest.raises(ValidationError) as exc:
        start(users, by=keeper, successor=keeper)
    assert "successor" in exc.value.message_dict["to_user"][0]
    assert not Handover.objects.exists()
    assert User.objects.get(username="clinician.mch").is_active


def test_another_keeper_may_start_it_for_that_successor(users):
    handover = start(users, by="secadmin", successor="custodian.mch")
    assert handover.to_user == users["custodian.mch"]
