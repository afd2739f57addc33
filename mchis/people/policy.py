"""Who may see and change person records (P15, P17, P20).

A person is reached through the institutions that hold their records (`PersonLink`): an
institution role reaches persons linked to its institution; an area role reaches persons
linked to any institution under its region. Identifiers are L4; the record itself L3.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from mchis.access.levels import WRITER_ROLES, Level
from mchis.access.models import BreakGlassGrant
from mchis.access.policy import Reach, ResourcePolicy, actor_reaches, clinical_clearance
from mchis.orgs.models import county_path_of, subtree_q
from mchis.people.models import Person, PersonLink


class PersonPolicy(ResourcePolicy):
    model = Person
    record_level = Level.L3
    field_levels = {
        "document_type": Level.L3,
        "sex": Level.L3,
        "document_number": Level.L4,
        "name": Level.L4,
        "birth_date": Level.L4,
        "phone": Level.L4,
        "address": Level.L4,
    }

    def scope_q(self, reach: Reach) -> Q:
        links = PersonLink.objects.filter(person=OuterRef("pk"))
        if reach.region_path:
            links = links.filter(subtree_q(reach.region_path, "institution_region_path"))
        else:
            links = links.filter(institution_id=reach.institution_id)
        return Q(Exists(links))

    def _links(self, obj: Person) -> list[tuple[int, str]]:
        cached = getattr(obj, "_link_cache", None)
        if cached is None:
            cached = obj._link_cache = list(obj.links.values_list("institution_id", "institution_region_path"))
        return cached

    def covers(self, reach: Reach, obj: Person) -> bool:
        for institution_id, path in self._links(obj):
            if reach.region_path and path.startswith(reach.region_path):
                return True
            if not reach.region_path and institution_id == reach.institution_id:
                return True
        return False

    def grant_q(self, actor) -> Q:
        # The database's clock, not a parameter: the compiled query stays valid (visible_lookup).
        active = BreakGlassGrant.objects.filter(actor=actor, expires_at__gt=Now())
        return Q(pk__in=active.values("person_id"))

    def granted(self, actor, obj: Person) -> bool:
        return BreakGlassGrant.objects.filter(actor=actor, person=obj, expires_at__gt=timezone.now()).exists()

    def match_counties(self, actor) -> set[str]:
        """The counties (region paths) the actor registers persons in."""
        return {county_path_of(r.institution_path) for r in actor_reaches(actor) if r.role in WRITER_ROLES}

    def filter_match(self, actor, queryset):
        """Registration looks for the same person in the counties the actor registers in, so a
        woman registered anywhere in the county is found, not duplicated (then linked)."""
        counties = self.match_counties(actor)
        return queryset.filter(county_path__in=counties) if counties else queryset.none()

    def filter_break_glass(self, actor, queryset):
        """A clinician in an emergency may open any person's record, with a reason (audited,
        reviewed). Everyone else: nothing."""
        return queryset if clinical_clearance(actor) is not None else queryset.none()
