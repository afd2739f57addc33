"""Five-colour pregnancy risk grading (孕产妇妊娠风险评估与管理, 2017; DOMAIN "Pregnancy risk grading").

The rules are data (`RiskRuleTable`, `RiskRule`), seeded from the 2017 assessment table by
migration 0002 and replaceable by a deployment (`risk_table_install`). This module knows the
*facts* a rule may speak about and how to evaluate a predicate over them; it knows no
condition of the table.

Predicates
----------
A predicate is JSON::

    {"fact": "age", "op": ">=", "value": 35}
    {"fact": "hb_g_l", "op": "between", "min": 60, "max": 110}        # both ends included
    {"fact": "presentation", "op": "in", "value": ["breech", "transverse"]}
    {"condition": "asthma"}                                          # a coded condition is recorded
    {"all": [p, ...]}, {"any": [p, ...]}, {"not": p}

Operators: ==, !=, <, <=, >, >=, between, in. Evaluation is three-valued: a fact that was not
recorded makes its comparison unknown; a rule fires only when its predicate is true, and the
proposal names the facts that were unknown where a rule needed them.

Facts and clearance (P17)
-------------------------
Every fact has a data level. The PMTCT results (HIV, syphilis, hepatitis B surface antigen) are
L5: they enter a proposal only when the acting user's clearance over the pregnancy reaches L5.
Otherwise the rules that read them are not evaluated at all, the proposal says it was computed
without them (always, whether or not results exist, so the remark reveals nothing), and the
purple flag of the current grading is carried over, since the user cannot know what is behind
it. The codes of rules that fired on L5 facts are stored apart, encrypted, at L5.

Colours
-------
green < yellow < orange < red: the highest colour of the rules that fired wins (green when none
fired); purple is a flag shown beside it. BMI is kg/m² rounded half up to one decimal, as it
is written in the handbook, and the rule boundaries apply to that figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from mchis.access.levels import Level
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record
from mchis.maternal.models import (
    COLOUR_RANK,
    InfectionResult,
    Presentation,
    RiskColour,
    RiskRule,
    RiskRuleTable,
    RuleColour,
)
from mchis.maternal.schedule import day_zero, gestational_days


@dataclass(frozen=True)
class Fact:
    name: str
    label: object
    kind: str  # "number", "text"
    level: Level = Level.L3
    choices: tuple[str, ...] = ()


FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact("age", gettext_lazy("age (years, on the day of assessment)"), "number"),
        Fact("bmi", gettext_lazy("body mass index (kg/m², one decimal)"), "number"),
        Fact("height_cm", gettext_lazy("height (cm)"), "number"),
        Fact("hb_g_l", gettext_lazy("haemoglobin (g/L, latest)"), "number"),
        Fact("platelets", gettext_lazy("platelets (10^9/L, latest)"), "number"),
        Fact("gestational_weeks", gettext_lazy("completed weeks of gestation"), "number"),
        Fact("fetuses", gettext_lazy("number of fetuses (latest)"), "number"),
        Fact("presentation", gettext_lazy("presentation (latest)"), "text", choices=tuple(Presentation.values)),
        Fact("prior_abortions", gettext_lazy("previous abortions"), "number"),
        Fact("prior_preterm_births", gettext_lazy("previous preterm births"), "number"),
        Fact("prior_perinatal_deaths", gettext_lazy("previous perinatal deaths"), "number"),
        Fact("prior_birth_defects", gettext_lazy("previous births with defects"), "number"),
        Fact("prior_ectopic", gettext_lazy("previous ectopic pregnancies"), "number"),
        Fact("uterine_operations", gettext_lazy("previous uterine operations (caesareans included)"), "number"),
        Fact(
            "months_since_uterine_surgery",
            gettext_lazy("whole months from the last uterine operation to this pregnancy"),
            "number",
        ),
        Fact("hiv", gettext_lazy("HIV test"), "text", Level.L5, tuple(InfectionResult.values)),
        Fact("syphilis", gettext_lazy("syphilis test"), "text", Level.L5, tuple(InfectionResult.values)),
        Fact("hbsag", gettext_lazy("hepatitis B surface antigen"), "text", Level.L5, tuple(InfectionResult.values)),
    )
}
CONFIDENTIAL_FACTS = frozenset(n for n, f in FACTS.items() if f.level >= Level.L5)

_OPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "between", "in"})
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_RULE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


# --- predicates -----------------------------------------------------------------------------


def predicate_problems(predicate: Any, *, where: str = "predicate") -> list[str]:
    """Why `predicate` is not a valid predicate (empty list: it is)."""
    if not isinstance(predicate, dict) or len(predicate) == 0:
        return [f"{where}: an object is expected"]
    keys = set(predicate)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            return [f"{where}: 'all'/'any' stands alone"]
        (key,) = keys
        parts = predicate[key]
        if not isinstance(parts, list) or not parts:
            return [f"{where}.{key}: a non-empty list is expected"]
        return [p for i, part in enumerate(parts) for p in predicate_problems(part, where=f"{where}.{key}[{i}]")]
    if "not" in keys:
        if len(keys) != 1:
            return [f"{where}: 'not' stands alone"]
        return predicate_problems(predicate["not"], where=f"{where}.not")
    if "condition" in keys:
        if len(keys) != 1:
            return [f"{where}: 'condition' stands alone"]
        code = predicate["condition"]
        return [] if isinstance(code, str) and _CODE.match(code) else [f"{where}: condition codes are snake_case"]
    if "fact" not in keys or "op" not in keys:
        return [f"{where}: needs 'fact' and 'op' (or all/any/not/condition)"]
    fact = FACTS.get(predicate["fact"])
    op = predicate["op"]
    if fact is None:
        return [f"{where}: unknown fact {predicate['fact']!r} (known: {', '.join(sorted(FACTS))})"]
    if op not in _OPS:
        return [f"{where}: unknown operator {op!r}"]
    if op == "between":
        if keys != {"fact", "op", "min", "max"}:
            return [f"{where}: 'between' takes 'min' and 'max'"]
        lo, hi = predicate["min"], predicate["max"]
        if not (_is_number(lo) and _is_number(hi)) or fact.kind != "number" or lo > hi:
            return [f"{where}: 'between' needs numbers min <= max on a numeric fact"]
        return []
    if keys != {"fact", "op", "value"}:
        return [f"{where}: {op!r} takes 'value'"]
    value = predicate["value"]
    if op == "in":
        if not isinstance(value, list) or not value:
            return [f"{where}: 'in' takes a non-empty list"]
        values = value
    else:
        values = [value]
    for v in values:
        if fact.kind == "number" and not _is_number(v):
            return [f"{where}: {fact.name} is compared with numbers"]
        if fact.kind == "text" and (not isinstance(v, str) or (fact.choices and v not in fact.choices)):
            return [f"{where}: {fact.name} takes one of {', '.join(fact.choices)}"]
        if fact.kind == "text" and op in ("<", "<=", ">", ">="):
            return [f"{where}: {fact.name} is compared with ==, != or in"]
    return []


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def predicate_facts(predicate: Mapping) -> set[str]:
    """Names of the facts a predicate reads."""
    if "all" in predicate or "any" in predicate:
        return set().union(*(predicate_facts(p) for p in (predicate.get("all") or predicate.get("any"))))
    if "not" in predicate:
        return predicate_facts(predicate["not"])
    if "fact" in predicate:
        return {predicate["fact"]}
    return set()


def predicate_conditions(predicate: Mapping) -> set[str]:
    """Condition codes a predicate reads."""
    if "all" in predicate or "any" in predicate:
        return set().union(*(predicate_conditions(p) for p in (predicate.get("all") or predicate.get("any"))))
    if "not" in predicate:
        return predicate_conditions(predicate["not"])
    if "condition" in predicate:
        return {predicate["condition"]}
    return set()


def _num(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))


def evaluate(predicate: Mapping, facts: Mapping[str, Any], conditions: Iterable[str], unknown: set[str]) -> bool | None:
    """True, False, or None (unknown: a fact it needs was not recorded; added to `unknown`)."""
    if "all" in predicate:
        results = [evaluate(p, facts, conditions, unknown) for p in predicate["all"]]
        return False if False in results else (None if None in results else True)
    if "any" in predicate:
        results = [evaluate(p, facts, conditions, unknown) for p in predicate["any"]]
        return True if True in results else (None if None in results else False)
    if "not" in predicate:
        result = evaluate(predicate["not"], facts, conditions, unknown)
        return None if result is None else not result
    if "condition" in predicate:
        return predicate["condition"] in conditions
    name, op = predicate["fact"], predicate["op"]
    value = facts.get(name)
    if value is None:
        unknown.add(name)
        return None
    if FACTS[name].kind == "number":
        value = _num(value)
        if op == "between":
            return _num(predicate["min"]) <= value <= _num(predicate["max"])
        if op == "in":
            return value in {_num(v) for v in predicate["value"]}
        target = _num(predicate["value"])
    else:
        if op == "in":
            return value in predicate["value"]
        target = predicate["value"]
    return {
        "==": value == target,
        "!=": value != target,
        "<": value < target,
        "<=": value <= target,
        ">": value > target,
        ">=": value >= target,
    }[op]


# --- facts ---------------------------------------------------------------------------------


def age_on(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def bmi(weight_kg: Any, height_cm: Any) -> Decimal | None:
    """kg/m², rounded half up to one decimal (the handbook's figure)."""
    if weight_kg is None or height_cm is None:
        return None
    metres = _num(height_cm) / 100
    return (_num(weight_kg) / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def months_between(earlier: date, later: date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def _latest(measurements: Sequence[Mapping[str, Any]], name: str) -> Any:
    for m in measurements:
        if m.get(name) not in (None, ""):
            return m[name]
    return None


def facts_collect(
    *,
    pregnancy,
    birth_date: date | None,
    on: date,
    measurements: Sequence[Mapping[str, Any]],
    infections: Mapping[str, str | None] | None,
) -> dict[str, Any]:
    """The facts the rules speak about, from the episode, the woman's birth date and the visits.

    `measurements`: the visits' values (antenatal and postpartum) at or before `on`, newest
    first. `infections`: the PMTCT results, or None when the actor may not use them.
    """
    first_weight = next((m["weight_kg"] for m in reversed(measurements) if m.get("weight_kg") is not None), None)
    height = pregnancy.height_cm if pregnancy.height_cm is not None else _latest(measurements, "height_cm")
    weight = pregnancy.pre_pregnancy_weight_kg if pregnancy.pre_pregnancy_weight_kg is not None else first_weight
    uterine = (pregnancy.prior_caesareans or 0) + (pregnancy.prior_uterine_surgeries or 0)
    start = pregnancy.lmp or (pregnancy.edd and day_zero(pregnancy.edd))
    facts: dict[str, Any] = {
        "age": age_on(birth_date, on) if birth_date else None,
        "bmi": bmi(weight, height),
        "height_cm": height,
        "hb_g_l": _latest(measurements, "hb_g_l"),
        "platelets": _latest(measurements, "platelets"),
        "gestational_weeks": gestational_days(edd=pregnancy.edd, on=on) // 7
        if pregnancy.delivered_on is None
        else None,
        "fetuses": _latest(measurements, "fetuses"),
        "presentation": _latest(measurements, "presentation"),
        "prior_abortions": pregnancy.prior_abortions,
        "prior_preterm_births": pregnancy.prior_preterm_births,
        "prior_perinatal_deaths": pregnancy.prior_perinatal_deaths,
        "prior_birth_defects": pregnancy.prior_birth_defects,
        "prior_ectopic": pregnancy.prior_ectopic,
        "uterine_operations": uterine,
        "months_since_uterine_surgery": (
            months_between(pregnancy.last_uterine_surgery_on, start)
            if pregnancy.last_uterine_surgery_on and start
            else None
        ),
    }
    if infections is not None:
        facts.update({k: infections.get(k) or None for k in ("hiv", "syphilis", "hbsag")})
    return facts


def conditions_collect(*, pregnancy, measurements: Sequence[Mapping[str, Any]]) -> set[str]:
    """Conditions recorded on the episode, and at its latest visit (a condition of an earlier
    visit that still holds is recorded again, or on the episode)."""
    latest = measurements[0].get("conditions") if measurements else None
    return set(pregnancy.conditions or ()) | set(latest or ())


# --- the proposal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiredRule:
    code: str
    colour: str
    label: str
    # Reads L5 facts: shown only with L5 clearance, stored encrypted.
    confidential: bool


@dataclass
class RiskProposal:
    colour: str
    purple: bool
    fired: list[FiredRule]
    table_id: int
    table_version: str
    # The PMTCT results entered the proposal (the actor is cleared for L5).
    infections_used: bool
    # The actor is not cleared for them: computed without, and purple carried over.
    infections_withheld: bool
    purple_carried: bool = False
    # Facts a rule needed that were not recorded (BMI without a height, no Hb yet…).
    unknown: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def remarks(self) -> list[str]:
        out = []
        if self.infections_withheld:
            out.append(_("Computed without the HIV, syphilis and hepatitis B results, which are above your clearance."))
        if self.purple_carried:
            out.append(_("Purple is carried over from the current grading."))
        return out


def rule_label(rule: RiskRule) -> str:
    return rule.label_zh if (get_language() or "").startswith("zh") else rule.label_en


def colour_max(colours: Iterable[str]) -> str:
    return max(colours, key=lambda c: COLOUR_RANK[c], default=RiskColour.GREEN)


def proposal_compute(
    *,
    table: RiskRuleTable,
    rules: Sequence[RiskRule],
    facts: Mapping[str, Any],
    conditions: Iterable[str],
    infections_used: bool,
    current_purple: bool,
) -> RiskProposal:
    """Evaluate every rule; the highest colour wins, purple beside it.

    Without L5 clearance (`infections_used` False) the rules reading L5 facts are skipped and
    the episode's current purple flag is carried over.
    """
    conditions = set(conditions)
    unknown: set[str] = set()
    fired: list[FiredRule] = []
    for rule in rules:
        reads = predicate_facts(rule.predicate)
        confidential = bool(reads & CONFIDENTIAL_FACTS)
        if confidential and not infections_used:
            continue
        if evaluate(rule.predicate, facts, conditions, unknown) is True:
            fired.append(FiredRule(rule.code, rule.colour, rule_label(rule), confidential))
    colour = colour_max(r.colour for r in fired if r.colour != RuleColour.PURPLE)
    purple = any(r.colour == RuleColour.PURPLE for r in fired)
    carried = False
    if not infections_used and current_purple and not purple:
        purple = carried = True
    shown_facts = {k: v for k, v in facts.items() if infections_used or k not in CONFIDENTIAL_FACTS}
    return RiskProposal(
        colour=colour,
        purple=purple,
        fired=fired,
        table_id=table.pk,
        table_version=table.version,
        infections_used=infections_used,
        infections_withheld=not infections_used,
        purple_carried=carried,
        unknown=sorted(unknown - (set() if infections_used else CONFIDENTIAL_FACTS)),
        facts=shown_facts,
    )


# --- rule tables -----------------------------------------------------------------------------


class NoActiveRuleTable(RuntimeError):
    """No risk rule table is active (the 2017 table is installed by migration 0002)."""


# Rules of an installed version never change (a new version is installed instead), so they are
# kept per process, keyed by what identifies the version row.
_rules_cache: dict[tuple, list[RiskRule]] = {}
_codes_cache: dict[tuple, frozenset[str]] = {}


def _table_key(table: RiskRuleTable) -> tuple:
    return (table.pk, table.version, table.created_at)


def table_rules(table: RiskRuleTable) -> list[RiskRule]:
    key = _table_key(table)
    rules = _rules_cache.get(key)
    if rules is None:
        rules = _rules_cache[key] = list(table.rules.order_by("position", "id"))
    return rules


def active_table() -> tuple[RiskRuleTable, list[RiskRule]]:
    table = RiskRuleTable.objects.filter(is_active=True).first()
    if table is None:
        raise NoActiveRuleTable("no active risk rule table")
    return table, table_rules(table)


def condition_catalogue(table: RiskRuleTable | None = None) -> list[dict[str, str]]:
    """The condition codes the (active) table's rules read, with the rule's colour and label:
    the coded list offered for visits and episodes."""
    if table is None:
        table, rules = active_table()
    else:
        rules = table_rules(table)
    out: dict[str, dict[str, str]] = {}
    for rule in rules:
        for code in sorted(predicate_conditions(rule.predicate)):
            out.setdefault(code, {"code": code, "colour": rule.colour, "rule": rule.code, "label": rule_label(rule)})
    return list(out.values())


def condition_codes() -> frozenset[str]:
    """Every condition code any installed table reads (older gradings stay readable)."""
    tables = list(RiskRuleTable.objects.order_by("pk"))
    key = tuple(_table_key(t) for t in tables)
    codes = _codes_cache.get(key)
    if codes is None:
        found: set[str] = set()
        for table in tables:
            for rule in table_rules(table):
                found |= predicate_conditions(rule.predicate)
        codes = _codes_cache[key] = frozenset(found)
    return codes


def rules_validate(rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a rule list for installation; ValidationError names each bad rule."""
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    cleaned = []
    for i, rule in enumerate(rules):
        key = f"rules[{i}]"
        code = rule.get("code")
        problems = []
        if not isinstance(code, str) or not _RULE_CODE.match(code):
            problems.append("code: 1-32 letters, digits, '.', '_' or '-'")
        elif code in seen:
            problems.append(f"code {code!r} appears twice")
        seen.add(code if isinstance(code, str) else "")
        if rule.get("colour") not in RuleColour.values:
            problems.append(f"colour: one of {', '.join(RuleColour.values)}")
        for label in ("label_zh", "label_en"):
            if not isinstance(rule.get(label), str) or not rule[label].strip():
                problems.append(f"{label} is required")
        problems += predicate_problems(rule.get("predicate"))
        if problems:
            errors[key] = problems
        else:
            cleaned.append(
                {
                    "code": code,
                    "colour": rule["colour"],
                    "section": rule.get("section", ""),
                    "label_zh": rule["label_zh"].strip(),
                    "label_en": rule["label_en"].strip(),
                    "predicate": rule["predicate"],
                }
            )
    if not rules:
        errors["rules"] = ["a table has at least one rule"]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def risk_table_install(
    *,
    version: str,
    name: str,
    effective_from: date,
    rules: Sequence[Mapping[str, Any]],
    source: str = "",
    activate: bool = True,
    extra: dict | None = None,
) -> RiskRuleTable:
    """Install a new version of the rule table (a deployment's own, or a later national one).

    Versions are never edited in place: gradings name the version they were made with. Run by
    an administrator's command (`mchis risk-table install`), never from a request. One
    transaction, audited (`extra`: who ran it, e.g. the operating-system account).
    """
    if not version or len(version) > 32 or RiskRuleTable.objects.filter(version=version).exists():
        raise ValidationError({"version": [_("a new, unused version name of at most 32 characters is required")]})
    if not (name or "").strip():
        raise ValidationError({"name": [_("the table needs a name")]})
    cleaned = rules_validate(rules)
    if not cleaned:
        raise ValidationError({"rules": [_("a table needs at least one rule")]})
    with transaction.atomic():
        if activate:
            RiskRuleTable.objects.filter(is_active=True).update(is_active=False)
        table = RiskRuleTable.objects.create(
            version=version, name=name.strip(), source=source, effective_from=effective_from, is_active=activate
        )
        RiskRule.objects.bulk_create(RiskRule(table=table, position=i, **r) for i, r in enumerate(cleaned))
        audit_record(
            action=AuditAction.CREATE,
            object_type="maternal.riskruletable",
            object_ids=[str(table.pk)],
            fields=["version", "rules", "is_active"],
            reason=f"risk rule table {version} installed{' and activated' if activate else ''}",
            extra={**(extra or {}), "version": version, "rules": len(cleaned)},
        )
    return table


def risk_table_activate(*, version: str, extra: dict | None = None) -> RiskRuleTable:
    """Make an installed version the one new gradings use (going back to an earlier table
    included). Audited."""
    table = RiskRuleTable.objects.filter(version=version).first()
    if table is None:
        raise ValidationError({"version": [_("no installed table has this version")]})
    with transaction.atomic():
        RiskRuleTable.objects.filter(is_active=True).exclude(pk=table.pk).update(is_active=False)
        RiskRuleTable.objects.filter(pk=table.pk).update(is_active=True)
        audit_record(
            action=AuditAction.UPDATE,
            object_type="maternal.riskruletable",
            object_ids=[str(table.pk)],
            fields=["is_active"],
            reason=f"risk rule table {version} activated",
            extra={**(extra or {}), "version": version},
        )
    table.refresh_from_db()
    return table


def risk_table_rules(table: RiskRuleTable) -> list[dict[str, Any]]:
    """The table's rules in the form `risk_table_install` takes (to export, edit, install anew)."""
    return [
        {
            "code": r.code,
            "colour": r.colour,
            "section": r.section,
            "label_zh": r.label_zh,
            "label_en": r.label_en,
            "predicate": r.predicate,
        }
        for r in table.rules.order_by("position")
    ]
