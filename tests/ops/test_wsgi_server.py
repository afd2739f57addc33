"""The production server (docs/deployment.md): gunicorn's pre-forked workers serve the WSGI
application, and refuse to start without the data keys (issue 3: never run unencrypted)."""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Language": "zh-CN"})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def served(installation):
    installation.run("keys", "init")
    # As deployment step 4 does.
    installation.run("migrate", "--no-input")
    installation.run("collectstatic", "--no-input")
    port = _free_port()
    server = subprocess.Popen(
        [str(GUNICORN), "mchis.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        env=installation.env,
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


def test_gunicorn_refuses_to_start_without_the_data_keys(installation):
    done = subprocess.run(
        [str(GUNICORN), "mchis.wsgi:application", "--workers", "1", "--bind", f"127.0.0.1:{_free_port()}"],
        env=installation.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "mchis keys init" in done.stderr
