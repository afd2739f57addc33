from __future__ import annotations

import json

import pytest
from django.test import Client


class Bearer:
    """A facility system: a test client sending the machine credential on every request."""

    def __init__(self, authorization: str, *, client_id: str, ip: str = "10.20.0.1"):
        self.authorization = authorization
        self.client_id = client_id
        self.http = Client(REMOTE_ADDR=ip)

    def _headers(self, headers):
        return {"Authorization": self.authorization, **(headers or {})}

    def get(self, path, *, headers=None, **params):
        return self.http.get(path, params or None, headers=self._headers(headers))

    def post(self, path, body=None, *, headers=None, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.http.post(path, data, content_type="application/json", headers=self._headers(headers))

    def patch(self, path, body=None, *, headers=None):
        return self.http.patch(
            path, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )


@pytest.fixture
def make_client(actors):
    """Create a machine client through the service; returns a `Bearer` test client."""
    from mchis.api.services import apiclient_create

    def _make(username_like: str = "clinician.thc1", *, role: str = "clinician", ip: str = "10.20.0.1", **kw):
        institution = actors[username_like].institution
        made = apiclient_create(institution=institution, role=role, **kw)
        return Bearer(made.authorization, client_id=str(made.client.pk), ip=ip)

    return _make


@pytest.fixture
def thc1_system(make_client):
    return make_client("clinician.thc1")
