"""Names an auditor reads: purposes of use and kinds of record in the user's language.

Events keep codes ("care", "people.person"): they are what the MAC covers and what filters
match. Pages show the name, with the code beside it where a filter takes it.
"""

from __future__ import annotations

import functools

from django import template
from django.apps import apps
from django.utils.translation import gettext_lazy as _

from mchis.audit.services import AUDIT_REVIEW

register = template.Library()

# A request's reads for several purposes are one event: "care; emergency".
_SEPARATOR = "; "


@functools.cache
def _purpose_names() -> dict[str, str]:
    """Codes to (lazy) names, built once: each name is translated when the page renders."""
    from mchis.access.purposes import Purpose

    return {**dict(Purpose.choices), AUDIT_REVIEW: _("audit review")}


@register.filter
def purpose_label(value: str) -> str:
    """'care; emergency' -> '本人保健服务；紧急情况（紧急访问）' (unknown codes as they are)."""
    if not value:
        return ""
    names = _purpose_names()
    return "; ".join(str(names.get(code, code)) for code in value.split(_SEPARATOR))


@register.filter
def kind_label(value: str) -> str:
    """'people.person' -> the model's name ('人员'); anything else as it is."""
    app_label, _dot, model_name = (value or "").partition(".")
    try:
        return str(apps.get_model(app_label, model_name)._meta.verbose_name)
    except (LookupError, ValueError):
        return value
