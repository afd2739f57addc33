"""Codes of the jurisdiction tree: GB/T 2260 division codes and GB 32100 institution codes.

Pure functions with no database access, so forms, services, the demo generator and the
importer share one definition of what a valid code is.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

# GB/T 2260 province-level prefixes (31 provinces, Taiwan, Hong Kong, Macao).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)

NATION_CODE = "000000"

# (level, pattern, how many leading digits are inherited from the parent's code)
_LEVEL_RULES: dict[int, tuple[re.Pattern[str], int]] = {
    0: (re.compile(r"^000000$"), 0),
    1: (re.compile(r"^\d{2}0000$"), 0),
    2: (re.compile(r"^\d{4}00$"), 2),
    3: (re.compile(r"^\d{6}$"), 4),
    4: (re.compile(r"^\d{9}$"), 6),
    5: (re.compile(r"^\d{12}$"), 9),
}

_LEVEL_RULE_TEXT = {
    0: _("the nation's code is 000000"),
    1: _("a province code is 6 digits: a GB/T 2260 province prefix followed by 0000"),
    2: _("a city code is 6 digits ending in 00 (not 0000) and starts with its province's 2 digits"),
    3: _("a county code is 6 digits not ending in 00 and starts with its city's 4 digits"),
    4: _("a township code is 9 digits, not ending in 000, and starts with its county's 6-digit code"),
    5: _("a village code is 12 digits, not ending in 000, and starts with its township's 9-digit code"),
}


def significant_prefix(code: str, level: int) -> str:
    """The part of a division code that its children inherit (41 for 410000, 4101 for 410100)."""
    return {0: "", 1: code[:2], 2: code[:4], 3: code[:6], 4: code[:9], 5: code[:12]}[level]


def region_code_problem(code: str, level: int, parent_code: str | None, parent_level: int | None) -> str | None:
    """Return why `code` is not a valid code at `level` under the parent, or None if it is."""
    rule = _LEVEL_RULES.get(level)
    if rule is None:
        return str(_("unknown region level"))
    pattern, _inherited = rule
    text = str(_LEVEL_RULE_TEXT[level])
    if not pattern.match(code or ""):
        return text
    if level == 1 and code[:2] not in PROVINCE_PREFIXES:
        return text
    if level == 2 and code.endswith("0000"):
        return text
    if level == 3 and code.endswith("00"):
        return text
    if level in (4, 5) and code.endswith("000"):
        return text
    if level > 0 and parent_code is not None and parent_level is not None:
        if not code.startswith(significant_prefix(parent_code, parent_level)):
            return text
    return None


# --- GB 32100-2015 unified social credit code (统一社会信用代码) --------------------------------
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid unified social credit code, or None."""
    if not _USCC_RE.match(code or ""):
        return str(
            _(
                "an institution code is the 18-character unified social credit code (GB 32100): "
                "digits and capital letters except I, O, S, V, Z, with a 6-digit division code "
                "in positions 3-8"
            )
        )
    if uscc_check_char(code[:17]) != code[17]:
        return str(_("the check character (position 18) of the unified social credit code is wrong (GB 32100)"))
    return None
