"""Managers of protected models: no query without an actor (DESIGN "The one path")."""

from __future__ import annotations

from django.db import models

from mchis.access.policy import UnscopedQuery


class ProtectedManager(models.Manager):
    """The default manager of a protected model.

    `Model.objects.all()` (or any query that does not start from `visible_to`) raises, so a
    forgotten policy check fails loudly instead of leaking rows. `visible_to(actor, action=…)`
    returns the rows the resource's policy lets through. Jobs and migrations use the model's
    `unscoped` manager; `tests/access/test_unscoped.py` fails when other code does.
    """

    def __init__(self, policy_path: str):
        super().__init__()
        self.policy_path = policy_path

    def get_queryset(self):
        raise UnscopedQuery(
            f"{self.model._meta.label} is protected: query it with "
            f"{self.model.__name__}.objects.visible_to(actor, action=…) (see mchis/access)"
        )

    def policy(self):
        # Policies hold no state: one instance per manager, not an import and object per query.
        cached = self.__dict__.get("_policy")
        if cached is None:
            from django.utils.module_loading import import_string

            cached = self.__dict__["_policy"] = import_string(self.policy_path)()
        return cached

    def visible_to(self, actor, *, action: str = "view") -> models.QuerySet:
        base = super().get_queryset()
        return getattr(self.policy(), f"filter_{action}")(actor, base)
