"""`keys rotate` killed with SIGKILL half-way, then run again, in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = 10_000


def script(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.crypto.rotation_script", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


def report(env: dict) -> dict:
    return json.loads(script(env, "report").stdout)


@pytest.fixture
def sample_env(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "MCHIS_DATA_DIR": str(tmp_path / "data"),
        "MCHIS_KEYS_FILE": str(tmp_path / "keys.json"),
        "DJANGO_SETTINGS_MODULE": "mchis.settings",
        "PYTHONUNBUFFERED": "1",
    }
    script(env, "setup", str(ROWS))
    return env


def test_rotation_killed_half_way_resumes_and_finishes(sample_env):
    before = report(sample_env)
    assert before["rotating_from"] is None and before["kids"] == {
        "k1": ROWS * 2 - ROWS // 10,
        "bidx k1": ROWS - ROWS // 10,
    }

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crypto.rotation_script", "rotate", "200"],
        cwd=ROOT,
        env=sample_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "crypto.RotationSample:" in line:  # the first batch is committed
            break
    proc.kill()
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the rotation ended before it was killed: {seen}"

    half = report(sample_env)
    assert (half["active"], half["rotating_from"]) == ("k2", "k1")
    assert half["kids"].get("k2", 0) > 0 and half["kids"].get("k1", 0) > 0
    assert half["wrong"] == 0
    assert half["found"] == 1  # lookups work during the rotation

    resumed = script(sample_env, "rotate", "500")
    assert "Resuming the unfinished rotation k1 → k2" in resumed.stdout
    assert "Rotated k1 → k2" in resumed.stdout

    after = report(sample_env)
    assert (after["active"], after["rotating_from"]) == ("k2", None)
    assert after["kids"] == {"k2": ROWS * 2 - ROWS // 10, "bidx k2": ROWS - ROWS // 10}
    assert after["wrong"] == 0
    assert after["found"] == 1
