"""Every protected model declares the data level of every field it shows (P17)."""

from django.apps import apps

from mchis.access.levels import Level
from mchis.access.managers import ProtectedManager
from mchis.crypto.fields import EncryptedField


def protected_models():
    return [m for m in apps.get_models() if isinstance(m._default_manager, ProtectedManager)]


def test_there_are_protected_models():
    assert {m._meta.label for m in protected_models()} >= {"people.Person"}


def test_encrypted_fields_are_personal_or_above_and_declared():
    for model in protected_models():
        policy = model._default_manager.policy()
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedField):
                assert field.name in policy.field_levels, f"{model._meta.label}.{field.name} has no data level"
                assert policy.field_levels[field.name] >= Level.L4, f"{model._meta.label}.{field.name}"


def test_technical_roles_are_cleared_for_no_case_data():
    from mchis.access.levels import ROLE_CLEARANCE
    from mchis.accounts.roles import TECHNICAL_ROLES

    assert all(ROLE_CLEARANCE[r] <= Level.L2 for r in TECHNICAL_ROLES)
    assert all(level < Level.S for level in ROLE_CLEARANCE.values())
