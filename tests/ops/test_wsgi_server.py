"""The production server (docs/deployment.md): gunicorn's pre-forked workers serve the WSGI
application, and refuse to start without the data keys (issue 3: never run unencrypted)."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

GUNICORN = Path(sys.executable).with_name("gunicorn")


def _env(data_dir: Path) -> dict:
    env = {**os.environ, "MCHIS_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "mchis.settings"}
    # A database of its own (SQLite in the data dir), whichever database the suite runs on.
    env.pop("DATABASE_URL", None)
    env.pop("MCHIS_KEYS_FILE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mchis(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "mchis", *args], env=env, check=True, capture_output=True, timeout=300)


def _get(url: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Language": "zh-CN"})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def served(tmp_path):
    env = _env(tmp_path)
    _mchis(env, "keys", "init")
    # As deployment step 4 does.
    _mchis(env, "migrate", "--no-input")
    _mchis(env, "collectstatic", "--no-input")
    port = _free_port()
    server = subprocess.Popen(
        [str(GUNICORN), "mchis.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(base + "/healthz")[0] in (200, 503):
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_the_application(served):
    status, _headers, body = _get(served + "/healthz")
    assert status == 200 and b'"database"' in body
    # A page a browser asks for first: the sign-in page, in Chinese, with its security headers.
    status, headers, body = _get(served + "/accounts/login/")
    assert status == 200 and "登录".encode() in body
    stylesheet = next(part.split(b'"')[0] for part in body.split(b'href="')[1:] if b".css" in part.split(b'"')[0])
    assert _get(served + stylesheet.decode())[0] == 200
    assert headers.get("X-Frame-Options") == "DENY" and "Content-Security-Policy" in headers
    # Anything else needs a signed-in user.
    status, _headers, _body = _get(served + "/api/v1/institutions/")
    assert status in (401, 403)


def test_gunicorn_refuses_to_start_without_the_data_keys(tmp_path):
    env = _env(tmp_path)
    done = subprocess.run(
        [str(GUNICORN), "mchis.wsgi:application", "--workers", "1", "--bind", f"127.0.0.1:{_free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "mchis keys init" in done.stderr
