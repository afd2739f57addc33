from django import template

from mchis.approvals.kinds import kind_label

register = template.Library()


@register.filter
def approval_kind_label(name: str):
    """The translated label of a registered kind of request."""
    return kind_label(name)
