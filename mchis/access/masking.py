"""Masking of identifiers in lists (P20): enough to tell people apart, not to identify them."""

from __future__ import annotations

from mchis.access.policy import Withheld

# A withheld value is falsy (so `if value:` skips it), which is why each function tests for it
# before emptiness: "withheld" is shown, never an empty cell (P17).


def mask_name(name) -> str:
    if isinstance(name, Withheld):
        return str(name)
    if not name:
        return ""
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_document(number) -> str:
    """4101**********1234"""
    if isinstance(number, Withheld):
        return str(number)
    if not number:
        return ""
    if len(number) <= 8:
        return number[:1] + "*" * (len(number) - 1)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone) -> str:
    if isinstance(phone, Withheld):
        return str(phone)
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
