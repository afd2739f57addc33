"""Plausibility of measurements: impossible values are refused, unusual ones accepted with a warning.

Each measurement has a plausible range (outside it the value cannot be right: a typing error,
a wrong unit) and a usual range (outside it the value is possible but worth a second look).
`measurements_check` raises `ValidationError({field: [message naming the field and the
range]})` for every impossible value at once, and otherwise returns the cleaned values and the
warnings, which the services pass back to the caller and note on the record (`unusual`) for
data-quality review. Nothing is saved when anything is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class Range:
    label: object
    unit: str
    low: Decimal
    high: Decimal
    # Inclusive bounds of the usual values; None: no warning on that side.
    usual_low: Decimal | None = None
    usual_high: Decimal | None = None
    # 0: a whole number; 1: one decimal place (the value is rounded half up to it).
    places: int = 0


def _r(label, unit, low, high, usual_low=None, usual_high=None, places=0) -> Range:
    def d(v):
        return None if v is None else Decimal(str(v))

    return Range(label, unit, d(low), d(high), d(usual_low), d(usual_high), places)


RANGES: dict[str, Range] = {
    # Usual: the examples (systolic >= 160 or <= 80, Hb < 70, fetal heart < 110 or > 160).
    "systolic_bp": _r(gettext_lazy("systolic blood pressure"), "mmHg", 60, 260, 81, 159),
    "diastolic_bp": _r(gettext_lazy("diastolic blood pressure"), "mmHg", 30, 160, 41, 109),
    "hb_g_l": _r(gettext_lazy("haemoglobin"), "g/L", 30, 200, 70, 170),
    "fundal_height_cm": _r(gettext_lazy("fundal height"), "cm", 5, 50, places=1),
    "abdominal_circumference_cm": _r(gettext_lazy("abdominal circumference"), "cm", 50, 150, places=1),
    "weight_kg": _r(gettext_lazy("weight"), "kg", 30, 200, 40, 120, places=1),
    "pre_pregnancy_weight_kg": _r(gettext_lazy("weight before pregnancy"), "kg", 30, 200, 40, 120, places=1),
    "height_cm": _r(gettext_lazy("height"), "cm", 120, 200, 140, 190, places=1),
    "fetal_heart_rate": _r(gettext_lazy("fetal heart rate"), "bpm", 60, 220, 110, 160),
    "fetuses": _r(gettext_lazy("number of fetuses"), "", 1, 6, 1, 2),
    "platelets": _r(gettext_lazy("platelets"), "10^9/L", 1, 1000, 50, 450),
    "blood_loss_ml": _r(gettext_lazy("blood loss"), "ml", 0, 10000, None, 499),
    "birth_weight_g": _r(gettext_lazy("birth weight"), "g", 300, 6000, 2500, 4000),
    "length_cm": _r(gettext_lazy("length"), "cm", 20, 65, 45, 55, places=1),
    "apgar_1": _r(gettext_lazy("Apgar score at 1 minute"), "", 0, 10, 8, None),
    "apgar_5": _r(gettext_lazy("Apgar score at 5 minutes"), "", 0, 10, 8, None),
}


@dataclass(frozen=True)
class Warning:
    """A value accepted but unusual: the caller shows it; the record keeps the field name."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _unit(r: Range) -> str:
    return f" {r.unit}" if r.unit else ""


def _range_text(r: Range) -> str:
    return f"{r.low}–{r.high}{_unit(r)}"


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidOperation
    number = Decimal(str(value).strip())
    if not number.is_finite():
        raise InvalidOperation
    return number


def measure_check(name: str, value: Any, *, errors: dict, warnings: list, prefix: str = "") -> Any:
    """One measurement: the cleaned value (int or Decimal), or None when absent; problems are
    added to `errors` / `warnings` under `prefix + name`."""
    if value is None or value == "":
        return None
    r = RANGES[name]
    key = prefix + name
    try:
        number = _number(value)
    except (InvalidOperation, ValueError):
        errors[key] = [
            _("%(field)s must be a number (plausible range %(range)s)") % {"field": r.label, "range": _range_text(r)}
        ]
        return None
    if r.places == 0 and number != number.to_integral_value():
        errors[key] = [_("%(field)s is a whole number") % {"field": r.label}]
        return None
    # Recorded to the field's precision (one decimal: 61.25 kg is kept as 61.3), half up.
    number = number.quantize(Decimal(1).scaleb(-r.places), rounding=ROUND_HALF_UP)
    if not (r.low <= number <= r.high):
        errors[key] = [
            _("%(field)s must be between %(low)s and %(high)s%(unit)s; %(value)s is not plausible")
            % {"field": r.label, "low": r.low, "high": r.high, "unit": _unit(r), "value": value}
        ]
        return None
    if r.usual_low is not None and number < r.usual_low:
        warnings.append(
            Warning(
                key,
                _("%(field)s %(value)s%(unit)s is unusually low (usually %(low)s or more): check the reading")
                % {"field": r.label, "value": number, "unit": _unit(r), "low": r.usual_low},
            )
        )
    elif r.usual_high is not None and number > r.usual_high:
        warnings.append(
            Warning(
                key,
                _("%(field)s %(value)s%(unit)s is unusually high (usually %(high)s or less): check the reading")
                % {"field": r.label, "value": number, "unit": _unit(r), "high": r.usual_high},
            )
        )
    return int(number) if r.places == 0 else number


def measurements_check(values: Mapping[str, Any], *, prefix: str = "") -> tuple[dict[str, Any], list[Warning]]:
    """Check every measurement of `values` that has a range; return cleaned values and warnings.

    Raises ValidationError naming every impossible value; nothing is returned then.
    """
    errors: dict[str, list[str]] = {}
    warnings: list[Warning] = []
    cleaned = {
        name: measure_check(name, value, errors=errors, warnings=warnings, prefix=prefix)
        for name, value in values.items()
        if name in RANGES
    }
    if errors:
        raise ValidationError(errors)
    return cleaned, warnings


def unusual_fields(warnings: list[Warning]) -> list[str]:
    return sorted({w.field for w in warnings})
