"""Maternal worklists at province scale (issue 5: one township's "due this week", p95 <= 50 ms on
PostgreSQL, with 1,000,000 pregnancies).

The province-size demo (about 100 counties, 2,000 townships) gets MCHIS_BENCH_PREGNANCIES
episodes (default 1,000,000) spread over every care institution, inserted in bulk through the
model: about a third open (antenatal or postpartum, with their next contact denormalised as the
services do), the rest closed episodes of earlier years. Each open episode has its own woman;
closed ones belong to the same women (earlier pregnancies), so the registry holds about a third
as many persons, with their identifiers really encrypted.

Figures: the worklist through the selector (policy, count, page of 20, masked names decrypted,
and the request's one audit event naming the episodes and the women, as a page does) for a
township clinician and for the county information officer narrowed to that township, beside
the same rows read with a plain indexed query.
"""

from __future__ import annotations

import os
import random
import time
from datetime import date, timedelta

from bench.timing import timed, versus

PREGNANCIES = int(os.environ.get("MCHIS_BENCH_PREGNANCIES", "1000000"))
BATCH = 5000
OPEN_SHARE = 0.35


def _populate(n: int) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from mchis.accounts.models import User
    from mchis.maternal import schedule
    from mchis.maternal.models import Pregnancy
    from mchis.orgs.models import Institution, InstitutionKind, county_path_of
    from mchis.people.models import Person

    today = timezone.localdate()
    care = list(
        Institution.objects.exclude(kind=InstitutionKind.HEALTH_ADMINISTRATION).values_list("id", "region_path")
    )
    registrar = User.objects.get(username="clinician.thc1")
    rng = random.Random(5)
    n_open = int(n * OPEN_SHARE)
    made = 0
    women: list[tuple[str, int, str]] = []  # (person id, institution id, region path) of open episodes
    colours = ["green"] * 50 + ["yellow"] * 35 + ["orange"] * 12 + ["red"] * 3
    while made < n:
        persons, pregnancies = [], []
        for i in range(made, min(n, made + BATCH)):
            if i < n_open:
                inst_id, path = care[i % len(care)]
                born = date(1985, 1, 1) + timedelta(days=i % 7000)
                person = Person(
                    document_type="none",
                    name="孕妇" + str(i % 9973),
                    sex=2,
                    birth_date=born,
                    county_path=county_path_of(path),
                    registered_by_id=inst_id,
                )
                persons.append(person)
                women.append((person.pk, inst_id, path))
                gd = rng.randrange(42, 330)  # 6 weeks pregnant to 7 weeks after the EDD
                lmp = today - timedelta(days=gd)
                edd = schedule.edd_from_lmp(lmp)
                delivered = edd + timedelta(days=rng.randrange(-21, 10)) if gd > 270 else None
                if delivered and delivered > today:
                    delivered = None
                state = "delivered" if delivered else "active"
                windows = schedule.windows_for(edd=edd, delivered_on=delivered, discharged_on=None)
                last_visit = today - timedelta(days=rng.randrange(0, 40))
                done = [w.code for w in windows if w.end < last_visit and rng.random() < 0.85]
                w = schedule.next_window(windows=windows, done=done, as_of=last_visit)
                person_id = person.pk
            else:
                person_id, inst_id, path = women[rng.randrange(len(women))]
                lmp = today - timedelta(days=rng.randrange(400, 3000))
                edd = schedule.edd_from_lmp(lmp)
                delivered, state, done, w, last_visit = edd, "closed", ["anc1", "anc2", "anc4", "pp42"], None, None
            pregnancies.append(
                Pregnancy(
                    person_id=person_id,
                    owner_institution_id=inst_id,
                    owner_region_path=path,
                    registering_institution_id=inst_id,
                    registered_by=registrar,
                    registered_on=lmp + timedelta(days=70),
                    lmp=lmp,
                    dating_basis="lmp",
                    edd=edd,
                    gravidity=1 + i % 3,
                    parity=min(i % 3, 1),
                    state=state,
                    delivered_on=delivered,
                    ended_on=delivered + timedelta(days=42) if state == "closed" else None,
                    risk_colour=colours[i % len(colours)],
                    risk_purple=i % 97 == 0,
                    contacts_done=done,
                    last_visit_on=last_visit,
                    next_contact=w.code if w else "",
                    next_contact_start=w.start if w else None,
                    next_contact_due=w.end if w else None,
                )
            )
        with transaction.atomic():
            if persons:
                Person.unscoped.bulk_create(persons)
            Pregnancy.unscoped.bulk_create(pregnancies)
        made += len(pregnancies)
    from mchis.people.models import PersonLink

    for base in range(0, len(women), BATCH):
        with transaction.atomic():
            PersonLink.objects.bulk_create(
                [
                    PersonLink(person_id=pid, institution_id=inst, institution_region_path=path, created_by=registrar)
                    for pid, inst, path in women[base : base + BATCH]
                ]
            )
    return {"pregnancies": made, "open": n_open, "persons": len(women)}


def suite_maternal() -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from mchis.accounts.models import User
    from mchis.audit.context import audit_context
    from mchis.audit.services import reads_collect, reads_flush
    from mchis.demo.generator import demo_load, demo_plan
    from mchis.maternal import schedule
    from mchis.maternal.models import Pregnancy
    from mchis.maternal.selectors import worklist_visits_due

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    demo_load(demo_plan("province"))
    demo_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = _populate(PREGNANCIES)
    populate_s = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    clinician = User.objects.get(username="clinician.thc1")
    info = User.objects.get(username="info.mch")
    institution = clinician.institution
    township = institution.region.code
    today = timezone.localdate()
    _monday, sunday = schedule.week_bounds(today)

    def plain():
        return list(
            Pregnancy.unscoped.filter(
                owner_institution_id=institution.pk, next_contact_due__gte=today, next_contact_start__lte=sunday
            ).order_by("next_contact_due", "id")[:20]
        )

    def as_a_request(read):
        # What AuditContextMiddleware does around a page: its reads run in autocommit and are
        # collected, then written as the request's one event before the response leaves.
        with audit_context(path="/maternal/worklist/") as ctx:
            reads_collect(ctx)
            page = read()
            (_event,) = reads_flush(ctx)
        return page

    def township_clinician():
        page = as_a_request(lambda: worklist_visits_due(actor=clinician, purpose="care"))
        assert page.items
        return page

    def county_officer_one_township():
        return as_a_request(lambda: worklist_visits_due(actor=info, purpose="quality_review", township=township))

    baseline = timed(plain, repeat=500, warmup=20)
    mine = timed(township_clinician, repeat=500, warmup=20)
    area = timed(county_officer_one_township, repeat=500, warmup=20)
    return {
        **counts,
        "demo_load_seconds": round(demo_s, 1),
        "populate_seconds": round(populate_s, 1),
        "township_episodes": Pregnancy.unscoped.filter(owner_institution_id=institution.pk).count(),
        "township_due_this_week": township_clinician().total,
        "baseline_plain_indexed_query": baseline,
        "visits_due_township_clinician": versus(mine, baseline),
        "visits_due_county_officer_township_filter": versus(area, baseline),
        "target": "visits_due_township_clinician.p95_ms <= 50 (PostgreSQL)",
    }
