"""What `mchis serve` (the last step of `make run`) tells the person who started it."""

import io
import json
import re
import shlex
import subprocess
import sys

import pyotp
import pytest
from django.core.management import call_command

from mchis.ops.management.commands.serve import login_instructions


@pytest.fixture
def credentials(tmp_path, db, fast_passwords):
    """The demo loaded as `make run` does, which writes the credentials file once."""
    path = tmp_path / "demo-credentials.json"
    call_command("demo", "--size", "small", "--if-empty", "--credentials-out", str(path), stdout=io.StringIO())
    return path


def test_every_start_says_where_the_accounts_are_and_shows_their_second_factor(credentials):
    # A second `make run` loads nothing (the database holds data): the instructions come from
    # the file written the first time, and still name everything a login needs.
    call_command("demo", "--size", "small", "--if-empty", "--credentials-out", str(credentials), stdout=io.StringIO())
    accounts = json.loads(credentials.read_text())
    text = login_instructions(addrport="127.0.0.1:8000", credentials=credentials)
    assert "http://127.0.0.1:8000/" in text
    assert str(credentials) in text
    for account in accounts:
        line = next(line for line in text.splitlines() if line.split()[:1] == [account["username"]])
        assert account["password"] in line and account["totp_secret"] in line
    assert "6-digit code" in text and "authenticator app" in text


def test_the_printed_command_prints_the_code_the_second_factor_page_accepts(credentials):
    accounts = json.loads(credentials.read_text())
    text = login_instructions(addrport="127.0.0.1:8000", credentials=credentials)
    command = next(line.strip() for line in text.splitlines() if "pyotp" in line)
    secret = re.search(r'TOTP\("([A-Z2-7]+)"\)', command).group(1)
    assert secret == accounts[0]["totp_secret"]
    argv = shlex.split(command)
    assert argv[0] == sys.executable
    code = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert re.fullmatch(r"\d{6}", code)
    assert pyotp.TOTP(secret).verify(code, valid_window=1)


def test_without_demo_accounts_it_says_a_second_factor_is_enrolled_at_first_login(tmp_path):
    text = login_instructions(addrport="0.0.0.0:8000", credentials=tmp_path / "missing.json")
    assert "mchis account create" in text and "electronic key" in text
