"""Pregnancy episodes of the demo, written through the maternal services.

Each planned episode follows a scenario: a stage of care (just registered, a contact due this
week, overdue, high risk with a case, referred, purple, due to deliver this month, delivered
and waiting for the home visit, closed by the 42-day check, ended, waiting for a transfer).
Dates count back from the day the demo is loaded, so the worklists have something in them
whatever the day; everything else follows the plan and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

# Scenario name → the clinician who must own the episode (None: whoever registered her).
SCENARIOS: dict[str, str | None] = {
    "registered": None,
    "anc2_due": None,
    "overdue": None,
    "yellow": None,
    "orange_case": None,
    "red_referral": None,
    "purple": "clinician.mch",
    "edd_this_month": None,
    "delivered": None,
    "closed": None,
    "ended": None,
    "transfer_pending": "clinician.thc1",
}


@dataclass(frozen=True)
class PregnancyPlan:
    person_index: int
    scenario: str


def plan_pregnancies(rng, registrars: list[str], *, size: str) -> list[PregnancyPlan]:
    """Which woman (by index, registered by `registrars[i % len]`) lives which scenario."""
    names = list(SCENARIOS)
    out: list[PregnancyPlan] = []
    free = list(range(len(registrars)))
    if size == "small":
        # One of each, for the women whose registrar suits the scenario (constrained ones first).
        for scenario in sorted(names, key=lambda n: SCENARIOS[n] is None):
            owner = SCENARIOS[scenario]
            pick = next((i for i in free if owner is None or registrars[i] == owner), None)
            if pick is not None:
                free.remove(pick)
                out.append(PregnancyPlan(pick, scenario))
        return sorted(out, key=lambda pp: pp.person_index)
    for i in free:
        if rng.random() >= 0.3:
            continue
        scenario = rng.choice(names)
        owner = SCENARIOS[scenario]
        if owner is not None and registrars[i] != owner:
            scenario = "registered"
        out.append(PregnancyPlan(i, scenario))
    return out


def load_pregnancies(plan, users: dict, institutions_by_key: dict) -> int:
    """Write the planned episodes; returns how many."""
    from mchis.maternal.services import (
        delivery_record,
        high_risk_case_report,
        infection_results_record,
        postpartum_visit_record,
        pregnancy_close,
        pregnancy_register,
        referral_record,
        risk_grade,
        transfer_request,
        visit_record,
    )

    today = timezone.localdate()
    county_mch = institutions_by_key["c1.1.mch"]
    county_hosp = institutions_by_key["c1.1.hosp"]
    thc2 = users["clinician.thc2"].institution

    for pp in plan.pregnancies:
        woman = plan.people[pp.person_index]
        actor = users[plan.registrars[pp.person_index]]
        s = pp.scenario

        def day(gd: int, now_gd: int) -> date:
            return today - timedelta(days=now_gd - gd)

        gd_now = {
            "registered": 70,
            "anc2_due": 112,
            "overdue": 150,
            "yellow": 130,
            "orange_case": 200,
            "red_referral": 230,
            "purple": 126,
            "edd_this_month": 280 - (_month_end(today) - today).days + 3,
            "delivered": 276,
            "closed": 320,
            "ended": 60,
            "transfer_pending": 100,
        }[s]
        lmp = today - timedelta(days=gd_now)
        registered_gd = {"registered": 70, "ended": 49}.get(s, 60 + pp.person_index % 20)
        conditions = {"orange_case": ["asthma"]}.get(s, [])
        reg = pregnancy_register(
            actor=actor,
            institution=actor.institution,
            document_type="resident_id",
            document_number=woman.id_number,
            name=woman.name,
            birth_date=woman.born,
            phone=woman.phone,
            address=woman.address,
            lmp=lmp,
            gravidity=1 + pp.person_index % 3,
            parity=min(pp.person_index % 3, 1),
            prior_caesareans=1 if pp.person_index % 3 and pp.person_index % 7 == 3 else 0,
            conditions=conditions,
            registered_on=day(registered_gd, gd_now),
        )
        pid = reg.pregnancy.pk

        def visit(gd: int, *, pid=pid, gd_now=gd_now, actor=actor, grade=True, **values):
            result = visit_record(
                actor=actor,
                pregnancy_id=pid,
                visit_on=day(gd, gd_now),
                systolic_bp=values.pop("systolic_bp", 112),
                diastolic_bp=values.pop("diastolic_bp", 72),
                weight_kg=values.pop("weight_kg", 55 + gd // 20),
                height_cm=values.pop("height_cm", 158),
                fetal_heart_rate=values.pop("fetal_heart_rate", 140 if gd >= 84 else None),
                fundal_height_cm=values.pop("fundal_height_cm", gd // 7 if gd >= 140 else None),
                hb_g_l=values.pop("hb_g_l", 118),
                fetuses=1,
                **values,
            )
            # Graded at the first and the latest visit (every grading is dated; the demo keeps
            # its load quick, it runs before every test that uses it).
            return risk_grade(actor=actor, pregnancy_id=pid, visit_id=result.visit.pk) if grade else None

        if s == "ended":
            visit(registered_gd)
            pregnancy_close(actor=actor, pregnancy_id=pid, reason="miscarriage", on=today - timedelta(days=3))
            continue
        first = visit(
            registered_gd, hb_g_l=95 if s == "yellow" else 118, grade=plan.size != "small" or s == "orange_case"
        )
        if s in ("registered", "anc2_due", "overdue", "transfer_pending"):
            if s == "transfer_pending":
                transfer_request(actor=actor, pregnancy_id=pid, to_institution_id=thc2.pk, reason_text="搬到婆家居住")
            continue
        if s == "orange_case" and first.high_risk_case is not None:
            high_risk_case_report(actor=actor, case_id=first.high_risk_case.pk)
        if s == "purple":
            pmtct = users["pmtct.mch"]
            infection_results_record(
                actor=pmtct, pregnancy_id=pid, hiv="negative", syphilis="positive", hbsag="negative"
            )
            visit(120, actor=pmtct)
            continue
        later = [gd for gd in (115, 150, 200, 262) if gd <= min(gd_now, 270)]
        if plan.size == "small":
            # The small demo is loaded before many tests: the latest contact is enough there.
            later = later[-1:]
        for gd in later:
            extra = {"hb_g_l": 98} if s == "yellow" else {}
            if s == "red_referral" and gd == 200:
                extra["conditions"] = ["pernicious_placenta_praevia"]
            visit(gd, grade=gd == later[-1], **extra)
        if s == "red_referral":
            referral_record(
                actor=actor,
                pregnancy_id=pid,
                # Township women go to the county MCH hospital; its own to the city's.
                to_institution_id=(
                    county_mch if actor.institution_id != county_mch.pk else institutions_by_key["city1.mch"]
                ).pk,
                referred_on=day(202, gd_now),
                reason="high_risk",
                reason_text="凶险性前置胎盘，转县妇幼保健院",
            )
        if s in ("delivered", "closed"):
            delivered = day(274, gd_now)
            delivery_record(
                actor=actor,
                pregnancy_id=pid,
                delivered_at=timezone.make_aware(datetime.combine(delivered, time(9, 40 + pp.person_index % 20))),
                place_type="institution",
                institution_id=county_hosp.pk,
                mode="caesarean" if pp.person_index % 4 == 0 else "spontaneous",
                blood_loss_ml=250,
                babies=[
                    {
                        "outcome": "live_birth",
                        "sex": 1 + pp.person_index % 2,
                        "birth_weight_g": 2900 + 37 * (pp.person_index % 25),
                        "length_cm": 50,
                        "apgar_1": 9,
                        "apgar_5": 10,
                    }
                ],
                discharged_on=delivered + timedelta(days=2),
            )
            if s == "closed":
                postpartum_visit_record(
                    actor=actor,
                    pregnancy_id=pid,
                    visit_on=delivered + timedelta(days=5),
                    kind="home_visit",
                    systolic_bp=110,
                    diastolic_bp=70,
                    breastfeeding="exclusive",
                    finding="normal",
                )
                postpartum_visit_record(
                    actor=actor,
                    pregnancy_id=pid,
                    visit_on=delivered + timedelta(days=43),
                    kind="check_42",
                    systolic_bp=108,
                    diastolic_bp=70,
                    hb_g_l=121,
                    breastfeeding="exclusive",
                    finding="normal",
                )
    return len(plan.pregnancies)


def _month_end(today: date) -> date:
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
