"""Protected models are reached only through the policy (DESIGN "The one path")."""

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from mchis.access.managers import ProtectedManager
from mchis.access.policy import UnscopedQuery
from mchis.crypto.fields import EncryptedField
from mchis.people.models import Person

ROOT = Path(__file__).resolve().parents[2] / "mchis"
# Jobs and migrations may use `unscoped`, and so may key rotation (a job run from the command
# line). Anything else must go through `objects.visible_to(actor)`.
ALLOWED = ("/migrations/", "/tasks.py", "crypto/rotation.py")
# The names of a protected model's managers that skip the policy: `unscoped`, and the base
# manager (`base_manager_name = "unscoped"`). Django also uses the base manager for a related
# object (`pregnancy.person`); that is reached from a row the policy let through, and a
# relation from an unprotected model is caught by the lookups test below when queried.
UNSCOPED_ATTRIBUTES = ("unscoped", "_base_manager", "base_manager", "managers_map")


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
            if isinstance(node, ast.Attribute) and node.attr in UNSCOPED_ATTRIBUTES:
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not offenders, f"unscoped access outside jobs and migrations: {offenders}"


def _protected_data_through_relations() -> re.Pattern:
    """Lookups like "person__name": a protected model's encrypted field read through a
    relation, from a query of any model (PersonLink, a grant) and so past the person's policy."""
    protected = [m for m in apps.get_models() if isinstance(m._default_manager, ProtectedManager)]
    encrypted = {m: [f.name for f in m._meta.concrete_fields if isinstance(f, EncryptedField)] for m in protected}
    lookups = {
        f"{field.name}__{name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.is_relation and field.related_model in encrypted
        for name in encrypted[field.related_model]
    }
    # Anywhere in a lookup path ("pregnancy__person__name__isnull"): "__" separates its parts.
    return re.compile(r"(?:^|__|\W)(" + "|".join(sorted(lookups)) + r")(?:__|\W|$)")


def test_no_query_reads_protected_fields_through_a_relation(db):
    pattern = _protected_data_through_relations()
    for lookup in ("person__name", "child__document_number", "pregnancy__person__name__isnull", "person__phone__in"):
        assert pattern.search(lookup), lookup
    assert not pattern.search("person__name_masked") and not pattern.search("institution__name")
    offenders = []
    for path in ROOT.rglob("*.py"):
        if "/migrations/" in str(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.search(node.value):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.keyword) and node.arg and pattern.search(node.arg):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.arg}=")
    assert not offenders, f"protected fields read through a relation, past the policy: {offenders}"


def test_protected_models_are_not_in_the_admin():
    if "django.contrib.admin" in settings.INSTALLED_APPS:
        from django.contrib import admin

        assert Person not in admin.site._registry
    else:
        assert "django.contrib.admin" not in settings.INSTALLED_APPS
