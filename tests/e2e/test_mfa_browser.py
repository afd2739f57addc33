"""Enrolling an electronic key in a real browser, under the strict CSP (P28): an authenticator
app (the QR code is an SVG data: image), and a security key answered by Chromium's virtual
authenticator, which exercises webauthn.js against the server's ceremonies."""

import pyotp
import pytest

from mchis.accounts.models import ElectronicKey, KeyKind, KeyState, User
from mchis.accounts.services import role_grant, user_create
from mchis.demo.generator import demo_load, demo_plan

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "Xy7!fresh-start-9"


@pytest.fixture
def newcomer(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_load(demo_plan("small"))
    institution = User.objects.get(username="clinician.thc1").institution
    user = user_create(username="newcomer", display_name="新来的医生", institution=institution, password=PASSWORD)
    role_grant(user=user, role="clinician", institution=institution)
    return user


def password_step(page, live_server) -> None:
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].w-100")
    page.wait_for_load_state()


def accept_agreement(page, live_server) -> None:
    page.wait_for_url(live_server.url + "/accounts/agreement/")
    page.check("#id_accept")
    page.click("#agreement-accept")
    page.wait_for_url(live_server.url + "/")


def no_csp_errors(page) -> None:
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_enrol_an_authenticator_app(live_server, page, newcomer):
    password_step(page, live_server)
    assert page.url == live_server.url + "/accounts/keys/enrol/"
    page.fill("#totp-label", "我的手机")
    page.click("#totp-start")
    page.wait_for_selector("#totp-secret")
    assert page.evaluate("document.querySelector('img.img-thumbnail').naturalWidth") > 0
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_selector("ol.recovery-codes")
    assert page.locator("ol.recovery-codes li").count() == 10
    page.click("main a.btn-primary")
    accept_agreement(page, live_server)
    assert ElectronicKey.objects.get(user=newcomer).state == KeyState.ACTIVE
    no_csp_errors(page)


def test_register_a_security_key_and_log_in_with_it(live_server, page, newcomer):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    password_step(page, live_server)
    page.fill("#webauthn-label", "蓝色钥匙")
    page.click("#webauthn-register")
    page.wait_for_selector("#webauthn-codes:not(.d-none)")
    assert page.locator("#webauthn-codes-list li").count() == 10
    key = ElectronicKey.objects.get(user=newcomer)
    assert key.kind == KeyKind.WEBAUTHN and key.state == KeyState.ACTIVE and key.label == "蓝色钥匙"
    page.click("#webauthn-codes-continue")
    accept_agreement(page, live_server)

    page.click("form[action='/accounts/logout/'] button")
    page.wait_for_url(live_server.url + "/accounts/login/")
    password_step(page, live_server)
    assert page.url == live_server.url + "/accounts/keys/verify/"
    page.click("#webauthn-authenticate")
    page.wait_for_url(live_server.url + "/")
    key.refresh_from_db()
    assert key.sign_count >= 1 and key.last_used_at is not None
    no_csp_errors(page)
