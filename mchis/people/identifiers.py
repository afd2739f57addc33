"""Resident identity numbers (居民身份证号, GB 11643-1999).

18 characters: 6-digit address code (GB/T 2260), birth date YYYYMMDD, 3-digit sequence
(odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$", re.ASCII)


def id_check_char(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _halfwidth(value: str) -> str:
    """Full-width digits, letters, hyphens and spaces (what a Chinese input method types in
    its full-width mode) as their ASCII forms (NFKC): one number however it was typed."""
    return unicodedata.normalize("NFKC", value or "")


def id_normalise(value: str) -> str:
    """Half-width, upper-case (lower-case x is the same as X), without spaces."""
    return "".join(_halfwidth(value).split()).upper()


def id_problem(value: str, *, today: date | None = None) -> str | None:
    """Why `value` is not a valid resident ID number, or None."""
    number = id_normalise(value)
    if not _SHAPE.match(number):
        return _("a resident ID number is 17 digits followed by a digit or X (GB 11643)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return _("positions 7-14 of a resident ID number must be a real birth date YYYYMMDD (GB 11643)")
    # The deployment's date (MCHIS_TIME_ZONE), not the server clock's: from 16:00 UTC it is
    # already tomorrow in China, and a baby born then is not born in the future.
    if born > (today or timezone.localdate()):
        return _("the birth date in a resident ID number cannot be in the future (GB 11643)")
    if id_check_char(number[:17]) != number[17]:
        return _("the check character (position 18) of the resident ID number is wrong (GB 11643, ISO 7064 MOD 11-2)")
    return None


def id_make(*, area_code: str, born: date, sequence: int) -> str:
    """Build a valid number: for the demo generator and tests."""
    first17 = f"{area_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def id_sex(number: str) -> int:
    """GB/T 2261.1 sex code from the sequence: 1 male, 2 female."""
    return 1 if int(number[16]) % 2 else 2


_PHONE = re.compile(r"^\+?\d[\d\- ]{5,22}$", re.ASCII)


def phone_normalise(value: str) -> str:
    """Digits only (and a leading +): "138-0013 8000", "１３８００１３８０００" and "13800138000" are
    one number."""
    value = _halfwidth(value).strip()
    return ("+" if value.startswith("+") else "") + re.sub(r"[^0-9]", "", value)


def phone_problem(value: str) -> str | None:
    if not _PHONE.match(_halfwidth(value).strip()):
        return _("a phone number holds digits only (spaces, hyphens and a leading + allowed), 6 to 23 characters")
    return None
