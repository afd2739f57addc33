"""Password policy (P26; GB/T 22239 complexity and periodic change): each rule at its edges,
history, expiry after 90 days, forced change after an administrator set the password, and
the change page (which ends the user's other sessions)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from mchis.accounts.models import PasswordHistory, User, UserSession
from mchis.accounts.passwords import password_set
from mchis.accounts.services import user_create
from mchis.audit.models import AuditEvent
from tests.conftest import second_factor_through_page

pytestmark = pytest.mark.django_db


def problems(password: str, user=None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return exc.messages
    return []


@pytest.fixture
def someone(db):
    return User(username="zhang.wei")


# --- the rules, each at its edge ------------------------------------------------------------


def test_length_seven_is_refused_and_eight_accepted(someone):
    assert any("length" in p for p in problems("Ab1!xyz", someone))
    assert problems("Ab1!xyzw", someone) == []


def test_minimum_length_is_configurable(someone, settings):
    settings.MCHIS_PASSWORD_MIN_LENGTH = 12
    assert any("12" in p for p in problems("Ab1!xyzwvut", someone))
    assert problems("Ab1!xyzwvuts", someone) == []


@pytest.mark.parametrize(
    ("password", "classes"),
    [
        ("abcdefghij", 1),
        ("abcdefgh12", 2),
        ("ABCDEFgh", 2),
        ("qwrtzpx!#%", 2),
        ("abcdefg12!", 3),
        ("ABCDEFgh7", 3),
        ("KLMNOP5!", 3),
        ("zy#XW9vu", 4),
        ("孕产妇保健Ab", 3),
    ],
)
def test_three_of_four_character_classes(someone, password, classes):
    refused = any("character classes" in p for p in problems(password, someone))
    assert refused == (classes < 3)


@pytest.mark.parametrize("password", ["Zhang.Wei1!", "xxZHANG.WEIxx1!", "1!zhang.weiAB"])
def test_the_password_must_not_be_or_contain_the_username(someone, password):
    assert any("username" in p for p in problems(password, someone))


def test_a_two_letter_username_only_rules_out_itself(db):
    assert problems("Li-ming-88", User(username="li")) == []


def test_a_password_near_but_not_containing_the_username_is_fine(someone):
    assert problems("Zhang-Wei1!", someone) == []


def test_common_passwords_are_refused(someone):
    assert any("common" in p for p in problems("Password1", someone))


def test_each_message_names_its_rule(someone):
    messages = problems("abc", someone)
    assert any("(length)" in m for m in messages) and any("(character classes)" in m for m in messages)


# --- history ------------------------------------------------------------------------------------


@pytest.fixture
def holder(demo):
    return User.objects.get(username="clinician.thc1")


def change(user, password):
    return password_set(user=user, password=password, by=user)


def test_none_of_the_last_five_passwords_is_reused(holder, demo):
    first = demo["clinician.thc1"]["password"]
    for n in range(2, 6):
        change(holder, f"Second-{n}!pw")
    # History: the demo password and four changes. Each of the five is refused.
    for old in [first, "Second-2!pw", "Second-5!pw"]:
        with pytest.raises(ValidationError) as exc:
            change(holder, old)
        assert "history" in exc.value.message_dict["password"][0]
    change(holder, "Second-6!pw")
    # The first password is now six changes back: allowed again.
    change(holder, first)


def test_the_current_password_counts_even_without_history_rows(holder):
    PasswordHistory.objects.filter(user=holder).delete()
    holder.set_password("Current-1!pw")
    holder.save()
    with pytest.raises(ValidationError):
        change(holder, "Current-1!pw")


def test_history_keeps_only_what_the_rule_needs(holder):
    for n in range(8):
        change(holder, f"Rotate-{n}!pw")
    assert PasswordHistory.objects.filter(user=holder).count() == 5


# --- expiry and forced change ------------------------------------------------------------------


def age_password(username: str, days: int) -> None:
    User.objects.filter(username=username).update(password_changed_at=timezone.now() - timedelta(days=days))


def test_a_password_of_89_days_is_fine(login):
    client = login("info.mch")
    age_password("info.mch", 89)
    assert client.get("/orgs/mine/").status_code == 200


@pytest.mark.parametrize("days", [90, 400])
def test_a_password_of_90_days_or_more_must_be_changed_first(login, days):
    client = login("info.mch")
    age_password("info.mch", days)
    response = client.get("/orgs/mine/")
    assert response.status_code == 302 and response["Location"] == "/accounts/password/"
    assert "90" in client.get("/accounts/password/").content.decode()
    api = client.get("/api/v1/")
    assert api.status_code == 403 and api.json()["gate"] == "accounts:password_change"


def test_max_age_is_configurable(login, settings):
    settings.MCHIS_PASSWORD_MAX_AGE_DAYS = 30
    client = login("info.mch")
    age_password("info.mch", 30)
    assert client.get("/orgs/mine/").status_code == 302


def test_demo_accounts_start_with_a_fresh_password(demo):
    users = User.objects.filter(username__in=list(demo))
    assert users.count() == len(demo)
    assert not users.filter(must_change_password=True).exists()
    assert not users.filter(password_changed_at__isnull=True).exists()


def test_an_account_created_by_an_administrator_must_change_its_password(demo):
    secadmin = User.objects.get(username="secadmin")
    user = user_create(
        username="new.one",
        display_name="新人",
        institution=secadmin.institution,
        password="Initial-1!pw",
        created_by=secadmin,
    )
    assert user.must_change_password and user.password_changed_at is None
    assert PasswordHistory.objects.filter(user=user).count() == 1


def test_an_account_created_by_the_system_starts_fresh(demo):
    institution = User.objects.get(username="secadmin").institution
    user = user_create(username="sys.one", display_name="系统", institution=institution, password="Initial-1!pw")
    assert not user.must_change_password and user.password_changed_at is not None


def test_a_password_set_by_an_administrator_is_changed_at_the_next_login(demo):
    secadmin = User.objects.get(username="secadmin")
    holder = User.objects.get(username="clinician.thc1")
    epoch = holder.privilege_epoch
    password_set(user=holder, password="Given-by-admin1", by=secadmin)
    holder.refresh_from_db()
    assert holder.must_change_password and holder.password_changed_at is None
    assert holder.privilege_epoch == epoch + 1
    assert AuditEvent.objects.filter(
        action="security", actor_username="secadmin", reason="password set by an administrator"
    ).exists()

    client = Client()
    client.post("/accounts/login/", {"username": "clinician.thc1", "password": "Given-by-admin1"})
    # The holder's key is proven first (gate order in settings.MCHIS_GATES, P28), then the password.
    second_factor_through_page(client, username="clinician.thc1", secret=demo["clinician.thc1"]["totp_secret"])
    assert client.get("/").headers["Location"] == "/accounts/password/"
    response = client.post(
        "/accounts/password/",
        {"old_password": "Given-by-admin1", "new_password1": "Own-choice-22", "new_password2": "Own-choice-22"},
    )
    assert response.status_code == 302
    holder.refresh_from_db()
    assert not holder.must_change_password and holder.password_changed_at is not None
    assert client.get("/orgs/mine/").status_code in (200, 302)
    assert client.get("/orgs/mine/").headers.get("Location") != "/accounts/password/"


def test_an_administrator_setting_a_password_ends_all_the_holders_sessions(login):
    client = login("clinician.thc1")
    password_set(
        user=User.objects.get(username="clinician.thc1"),
        password="Given-by-admin1",
        by=User.objects.get(username="secadmin"),
    )
    assert client.get("/").status_code == 302
    assert not UserSession.objects.filter(user__username="clinician.thc1", ended_at__isnull=True).exists()


# --- the change page -------------------------------------------------------------------------------


def test_every_user_can_open_the_change_page_and_sees_the_rules(login):
    html = login("clinician.thc1").get("/accounts/password/").content.decode()
    assert 'name="old_password"' in html and 'name="new_password2"' in html
    assert "8" in html


def test_the_current_password_must_be_right(login):
    client = login("clinician.thc1")
    response = client.post(
        "/accounts/password/",
        {"old_password": "wrong-one", "new_password1": "Own-choice-22", "new_password2": "Own-choice-22"},
    )
    assert response.status_code == 200 and response.context["form"].errors["old_password"]


def test_the_new_password_must_be_typed_twice_alike(login, demo):
    client = login("clinician.thc1")
    response = client.post(
        "/accounts/password/",
        {
            "old_password": demo["clinician.thc1"]["password"],
            "new_password1": "Own-choice-22",
            "new_password2": "Own-choice-23",
        },
    )
    assert response.context["form"].errors["new_password2"]


def test_the_page_shows_a_policy_refusal_on_the_new_password(login, demo):
    client = login("clinician.thc1")
    response = client.post(
        "/accounts/password/",
        {"old_password": demo["clinician.thc1"]["password"], "new_password1": "short", "new_password2": "short"},
    )
    assert response.status_code == 200 and response.context["form"].errors["new_password1"]


def test_guessing_the_current_password_counts_towards_the_lockout(login):
    client = login("clinician.thc1")
    for _ in range(5):
        client.post(
            "/accounts/password/",
            {"old_password": "guess", "new_password1": "Own-choice-22", "new_password2": "Own-choice-22"},
        )
    from mchis.accounts.lockout import lockout_active

    assert lockout_active(subjects=["user:clinician.thc1"]) is not None


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(login, demo):
    mine, other = login("clinician.thc1"), login("clinician.thc1")
    before = mine.cookies[settings.SESSION_COOKIE_NAME].value
    response = mine.post(
        "/accounts/password/",
        {
            "old_password": demo["clinician.thc1"]["password"],
            "new_password1": "Own-choice-22",
            "new_password2": "Own-choice-22",
        },
    )
    assert response.status_code == 302
    assert mine.get("/orgs/mine/").status_code == 200
    assert other.get("/orgs/mine/").status_code == 302
    # This session continues under a new id, and its row follows it.
    after = mine.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert UserSession.objects.get(session_key=after).ended_at is None
    assert AuditEvent.objects.filter(reason="password changed by its holder").exists()
    holder = User.objects.get(username="clinician.thc1")
    assert holder.check_password("Own-choice-22") and holder.password_changed_at is not None
