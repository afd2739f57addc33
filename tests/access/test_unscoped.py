"""Protected models are reached only through the policy (DESIGN "The one path")."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

from mchis.access.policy import UnscopedQuery
from mchis.people.models import Person

ROOT = Path(__file__).resolve().parents[2] / "mchis"
# Jobs and migrations may use `unscoped`, and so may key rotation (a job run from the command
# line). Anything else must go through `objects.visible_to(actor)`.
ALLOWED = ("/migrations/", "/tasks.py", "crypto/rotation.py")


def test_the_default_manager_refuses_to_query_without_an_actor(db):
    with pytest.raises(UnscopedQuery):
        list(Person.objects.all())
    with pytest.raises(UnscopedQuery):
        Person.objects.filter(sex=2).count()


def test_only_jobs_and_migrations_use_the_unscoped_manager():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if any(part in str(path) for part in ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("unscoped", "_base_manager"):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not offenders, f"unscoped access outside jobs and migrations: {offenders}"


def test_protected_models_are_not_in_the_admin():
    if "django.contrib.admin" in settings.INSTALLED_APPS:
        from django.contrib import admin

        assert Person not in admin.site._registry
    else:
        assert "django.contrib.admin" not in settings.INSTALLED_APPS
