"""Who may see and change pregnancy episodes and what is recorded in them (P15, P17, P20).

A pregnancy is reached like a person, but through its *owner* rather than through links:

* an institution role reaches the episodes its institution owns; an area role (information
  officer, inspector) those owned by any institution under its region. A township clinician
  therefore sees her own township's women only;
* an institution the episode is shared with (`PregnancyShare`): the institution she was
  referred to, until the episode ends, and the institution asked to accept a transfer, until
  it decides. A referral lets the receiving institution's clinicians record care (she may
  deliver there); a transfer request only lets the receiving side look before accepting;
* an active break-glass grant on the woman (P5) opens her episodes to the clinician holding it.

Fields carry data levels: the record and its measurements are L3, free text L4 (it may name
anyone), the PMTCT results (HIV, syphilis, hepatitis B) L5: withheld, not even decrypted, below
L5 clearance. Every model recorded in an episode has a policy below that asks the episode's
question through its path to the pregnancy, so there is one rule for all of them.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from mchis.access.levels import WRITER_ROLES, Level
from mchis.access.models import BreakGlassGrant
from mchis.access.policy import Reach, ResourcePolicy, actor_reaches, clinical_clearance
from mchis.maternal.models import (
    AntenatalVisit,
    Delivery,
    DeliveryBaby,
    HighRiskCase,
    PostpartumVisit,
    Pregnancy,
    PregnancyShare,
    Referral,
    RiskGrading,
    Transfer,
)
from mchis.orgs.models import county_path_of, subtree_q


class PregnancyPolicy(ResourcePolicy):
    model = Pregnancy
    record_level = Level.L3
    field_levels = {
        "hiv_result": Level.L5,
        "syphilis_result": Level.L5,
        "hbsag_result": Level.L5,
    }
    # Path from this model to its pregnancy, for filters ("" on the pregnancy itself) …
    to_pregnancy = ""
    # … and to the pregnancy's id, for the share subquery.
    pregnancy_id_path = "pk"

    def _f(self, name: str) -> str:
        return self.to_pregnancy + name

    def pregnancy_of(self, obj):
        return obj

    # --- reach --------------------------------------------------------------------------------
    def own_q(self, reach: Reach) -> Q:
        """Episodes the reach covers as owner (what worklists show)."""
        if reach.region_path:
            return subtree_q(reach.region_path, self._f("owner_region_path"))
        return Q(**{self._f("owner_institution_id"): reach.institution_id})

    def scope_q(self, reach: Reach) -> Q:
        shares = PregnancyShare.objects.filter(pregnancy_id=OuterRef(self.pregnancy_id_path), ended_at__isnull=True)
        if reach.region_path:
            shares = shares.filter(subtree_q(reach.region_path, "institution_region_path"))
        else:
            shares = shares.filter(institution_id=reach.institution_id)
        return self.own_q(reach) | Q(Exists(shares))

    def shares(self, pregnancy) -> list[tuple[int, str, str]]:
        """Active shares of the episode: (institution id, its region path, kind), cached on it."""
        cached = getattr(pregnancy, "_share_cache", None)
        if cached is None:
            cached = pregnancy._share_cache = list(
                PregnancyShare.objects.filter(pregnancy_id=pregnancy.pk, ended_at__isnull=True).values_list(
                    "institution_id", "institution_region_path", "kind"
                )
            )
        return cached

    def covers(self, reach: Reach, obj) -> bool:
        p = self.pregnancy_of(obj)
        if reach.region_path:
            if p.owner_region_path.startswith(reach.region_path):
                return True
            return any(path.startswith(reach.region_path) for _i, path, _k in self.shares(p))
        if p.owner_institution_id == reach.institution_id:
            return True
        return any(i == reach.institution_id for i, _p, _k in self.shares(p))

    def grant_q(self, actor) -> Q:
        active = BreakGlassGrant.objects.filter(actor=actor, expires_at__gt=Now())
        return Q(**{self._f("person_id") + "__in": active.values("person_id")})

    def granted(self, actor, obj) -> bool:
        p = self.pregnancy_of(obj)
        return BreakGlassGrant.objects.filter(
            actor=actor, person_id=p.person_id, expires_at__gt=timezone.now()
        ).exists()

    # --- writes ---------------------------------------------------------------------------------
    @staticmethod
    def _writer_institutions(actor) -> set[int]:
        return {r.institution_id for r in actor_reaches(actor) if r.role in WRITER_ROLES}

    def can_act_for_owner(self, actor, obj) -> bool:
        """Clinicians of the owning institution: they ask for and cancel its transfers."""
        return self.pregnancy_of(obj).owner_institution_id in self._writer_institutions(actor)

    def can_change(self, actor, obj) -> bool:
        """Clinicians of the owner or of an institution she was referred to; or under a grant."""
        p = self.pregnancy_of(obj)
        writers = self._writer_institutions(actor)
        if p.owner_institution_id in writers:
            return True  # the common case, without reading the shares
        if writers & {i for i, _p, kind in self.shares(p) if kind == PregnancyShare.Kind.REFERRAL}:
            return True
        return clinical_clearance(actor) is not None and self.granted(actor, obj)

    def can_accept_transfer(self, actor, transfer) -> bool:
        """Only the receiving institution's clinicians decide a transfer."""
        return any(
            r.role in WRITER_ROLES and r.institution_id == transfer.to_institution_id for r in actor_reaches(actor)
        )

    def writer_institution_id(self, actor, obj) -> int | None:
        """The institution the actor writes for on this episode (owner, referral, else their own)."""
        p = self.pregnancy_of(obj)
        writers = [r.institution_id for r in actor_reaches(actor) if r.role in WRITER_ROLES]
        if p.owner_institution_id in writers:
            return p.owner_institution_id
        for i, _path, _kind in self.shares(p):
            if i in writers:
                return i
        return actor.institution_id if actor.institution_id in writers else (writers[0] if writers else None)

    def sees_confidential(self, actor, obj) -> bool:
        """Whether the actor may read (and use in a proposal) the L5 fields of this episode."""
        level = self.clearance(actor, obj)
        return level is not None and level >= Level.L5

    # --- other questions, other querysets ------------------------------------------------------
    def filter_match(self, actor, queryset):
        """Registration must find a woman's open episode wherever it is, to refuse a second one:
        clinicians match the episodes of women registered in their counties (existence only)."""
        counties = {county_path_of(r.institution_path) for r in actor_reaches(actor) if r.role in WRITER_ROLES}
        return queryset.filter(**{self._f("person__county_path__in"): counties}) if counties else queryset.none()

    def filter_worklist(self, actor, queryset):
        """Episodes the actor reaches as owner, as plain indexable predicates (no shares, no
        grants: a worklist is the owner's work)."""
        qs = [self.own_q(r) for r in actor_reaches(actor) if r.clearance >= self.record_level]
        if not qs:
            return queryset.none()
        q = qs[0]
        for extra in qs[1:]:
            q |= extra
        return queryset.filter(q)

    def worklist_scope(self, actor, institution) -> Q | None:
        """The episodes of `institution`'s worklists for this actor, or None when the actor does
        not reach it: at an area role's own institution the lists cover its region; otherwise
        they are the institution's own episodes (an institution role's, or those of an
        institution under an area role's region)."""
        reaches = [
            r for r in actor_reaches(actor) if r.institution_id == institution.pk and r.clearance >= self.record_level
        ]
        area = [r for r in reaches if r.region_path]
        if area:
            return subtree_q(area[0].region_path, "owner_region_path")
        # The owner's region path is the institution's: the (region path, due date) index
        # serves an institution's list as well as a township's.
        own = Q(owner_institution_id=institution.pk, owner_region_path=institution.region_path)
        if reaches:
            return own
        # An area role looks at the lists of any institution under its region.
        if any(
            r.region_path and r.clearance >= self.record_level and institution.region_path.startswith(r.region_path)
            for r in actor_reaches(actor)
        ):
            return own
        return None


class _ChildPolicy(PregnancyPolicy):
    """A record of an episode: reached exactly as its pregnancy is."""

    field_levels: dict = {}
    to_pregnancy = "pregnancy__"
    pregnancy_id_path = "pregnancy_id"

    def pregnancy_of(self, obj):
        return obj.pregnancy


class AntenatalVisitPolicy(_ChildPolicy):
    model = AntenatalVisit
    field_levels = {"note": Level.L4}


class RiskGradingPolicy(_ChildPolicy):
    model = RiskGrading
    field_levels = {"reason": Level.L4, "rules_fired_confidential": Level.L5}


class HighRiskCasePolicy(_ChildPolicy):
    model = HighRiskCase
    field_levels = {"note": Level.L4}


class ReferralPolicy(_ChildPolicy):
    model = Referral
    field_levels = {"reason_text": Level.L4, "outcome_note": Level.L4}


class TransferPolicy(_ChildPolicy):
    model = Transfer
    field_levels = {"reason_text": Level.L4, "decision_note": Level.L4}


class DeliveryPolicy(_ChildPolicy):
    model = Delivery
    field_levels = {"note": Level.L4}


class DeliveryBabyPolicy(_ChildPolicy):
    model = DeliveryBaby
    field_levels = {}
    to_pregnancy = "delivery__pregnancy__"
    pregnancy_id_path = "delivery__pregnancy_id"

    def pregnancy_of(self, obj):
        return obj.delivery.pregnancy


class PostpartumVisitPolicy(_ChildPolicy):
    model = PostpartumVisit
    field_levels = {"note": Level.L4}
