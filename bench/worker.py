"""One database's benchmarks, run in a fresh process by bench/__main__.py."""

from __future__ import annotations

import json
import random
import sys
import time

import django

from bench.suite_audit import suite_audit_concurrency, suite_audit_verify
from bench.suite_maternal import suite_maternal
from bench.suite_maternal_api import suite_maternal_api
from bench.suite_people import suite_people
from bench.timing import timed, versus


def suite_orgs() -> dict:
    """Subtree lookups in the province-size tree (issue 2: p50 < 2 ms)."""
    from django.core.management import call_command

    from mchis.demo.generator import demo_load, demo_plan
    from mchis.orgs.models import Institution, Region, RegionLevel

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    demo_load(demo_plan("province"))
    load_s = time.perf_counter() - t0

    rng = random.Random(1)
    counties = list(Region.objects.filter(level=RegionLevel.COUNTY))
    region_ids = list(Region.objects.values_list("id", flat=True))
    n_nodes = len(region_ids) + Institution.objects.count()

    baseline = timed(lambda: Region.objects.get(pk=rng.choice(region_ids)), repeat=2000)
    subtree_ids = timed(
        lambda: list(Region.objects.subtree(rng.choice(counties)).values_list("id", flat=True)), repeat=2000
    )
    institutions = timed(lambda: list(Institution.objects.in_region(rng.choice(counties))), repeat=2000)
    county = counties[0]
    return {
        "nodes": n_nodes,
        "load_seconds": round(load_s, 1),
        "county_subtree_size": Region.objects.subtree(county).count(),
        "baseline_get_region_by_pk": baseline,
        "county_subtree_region_ids": versus(subtree_ids, baseline),
        "county_institutions": versus(institutions, baseline),
        "target": "county_subtree_region_ids.p50_ms < 2",
    }


SUITES = {
    "orgs": suite_orgs,
    "people": suite_people,
    "audit_verify": suite_audit_verify,
    "audit_concurrency": suite_audit_concurrency,
    "maternal": suite_maternal,
    "maternal_api": suite_maternal_api,
}


def main() -> None:
    django.setup()
    from mchis.crypto.keyring import keys_init, keys_path

    keys_init(keys_path())
    from django.db import connection

    results = {"vendor": connection.vendor}
    for name in sys.argv[1:] or list(SUITES):
        results[name] = SUITES[name]()
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
