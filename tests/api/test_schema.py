"""The OpenAPI schema documents the conventions and generates without warnings."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target), stderr=StringIO())
    schema = yaml.safe_load(target.read_text())
    assert "/api/v1/persons/" in schema["paths"]


def test_the_schema_renders_for_a_machine_client_and_documents_the_conventions(thc1_system):
    response = thc1_system.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    persons = schema["paths"]["/api/v1/persons/"]
    person = schema["paths"]["/api/v1/persons/{id}/"]
    create_headers = {p["name"] for p in persons["post"]["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in create_headers
    assert {"ETag", "Idempotent-Replayed"} <= set(persons["post"]["responses"]["201"]["headers"])
    assert {"200", "201", "400", "404", "422"} <= set(persons["post"]["responses"])
    patch_headers = {p["name"]: p for p in person["patch"]["parameters"] if p["in"] == "header"}
    assert patch_headers["If-Match"]["required"] is True
    assert {"412", "428"} <= set(person["patch"]["responses"])
    assert "ETag" in person["get"]["responses"]["200"]["headers"]
    assert schema["components"]["securitySchemes"]["apiClient"]["scheme"] == "bearer"
    # A lookup answers with an object, not a list of them.
    assert persons["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PersonLookup")
