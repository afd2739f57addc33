"""Secure defaults (P26, DESIGN "Stack"): what a deployment gets when it sets nothing."""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "CSRF_COOKIE_HTTPONLY": s.CSRF_COOKIE_HTTPONLY,
    "hasher": s.PASSWORD_HASHERS[0],
    "LANGUAGE_CODE": s.LANGUAGE_CODE,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "SECRET_KEY_LEN": len(s.SECRET_KEY),
    "DATABASE": s.DATABASES["default"]["ENGINE"],
}))
"""


def settings_with(env: dict, tmp_path) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCHIS_") and k != "DATABASE_URL"}
    clean.update({"DJANGO_SETTINGS_MODULE": "mchis.settings", "MCHIS_DATA_DIR": str(tmp_path), **env})
    out = subprocess.run([sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_defaults_are_secure_when_nothing_is_configured(tmp_path):
    s = settings_with({}, tmp_path)
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["CSRF_COOKIE_SECURE"] and s["CSRF_COOKIE_HTTPONLY"]
    assert s["hasher"].endswith("Argon2PasswordHasher")
    assert s["LANGUAGE_CODE"] == "zh-hans"
    assert s["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert s["DATABASE"].endswith("sqlite3")


def test_secret_key_is_generated_once_into_the_data_dir_owner_readable_only(tmp_path):
    first = settings_with({}, tmp_path)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["SECRET_KEY_LEN"] >= 50
    before = key_file.read_text()
    settings_with({}, tmp_path)
    assert key_file.read_text() == before


def test_a_short_secret_key_is_refused(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as exc:
        settings_with({"MCHIS_SECRET_KEY": "short"}, tmp_path)
    assert "MCHIS_SECRET_KEY" in exc.value.stderr


def test_a_malformed_boolean_names_the_variable(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as exc:
        settings_with({"MCHIS_DEBUG": "maybe"}, tmp_path)
    assert "MCHIS_DEBUG" in exc.value.stderr


@pytest.mark.parametrize("hours", ["-5", "0", "abc", "nan", "1e9"])
def test_a_break_glass_duration_out_of_range_names_the_variable(tmp_path, hours):
    """Emergency access is time-limited (P5): not zero, not negative, not a standing permission."""
    with pytest.raises(subprocess.CalledProcessError) as exc:
        settings_with({"MCHIS_BREAK_GLASS_HOURS": hours}, tmp_path)
    assert "MCHIS_BREAK_GLASS_HOURS must be a number greater than 0 and at most 72" in exc.value.stderr


def test_postgres_url_is_understood(tmp_path):
    s = settings_with({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}, tmp_path)
    assert s["DATABASE"].endswith("postgresql")


@pytest.mark.django_db
def test_every_page_carries_a_strict_csp_and_no_store(login):
    client = login("info.mch")
    for url in ["/", "/orgs/mine/", "/orgs/institutions/", "/api/v1/", "/api/v1/docs/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert "no-store" in response.headers["Cache-Control"], url
        assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_session_cookie_is_secure_and_httponly(demo, client):
    response = client.post("/accounts/login/", {"username": "info.mch", "password": demo["info.mch"]["password"]})
    cookie = response.cookies["mchis_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


TEMPLATES = sorted((ROOT / "mchis").rglob("templates/**/*.html"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_hold_no_inline_script_or_style(path):
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert "<style" not in text
    assert not re.search(r"\sstyle=", text), "style attribute"
    assert not re.search(r"\son[a-z]+=", text), "event-handler attribute"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_load_nothing_from_the_internet(path):
    # P32: classified sites are air-gapped, so no CDN, font or script from elsewhere.
    assert not re.search(r"(src|href)=\"(https?:)?//", path.read_text())
