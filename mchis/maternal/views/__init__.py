"""Pages of maternal care (issue 5): thin views over the maternal selectors and services.

Identifiers travel by POST only (P20); lists show them masked; the woman's full identity is
read on her pregnancy page alone, through the registry's audited selector. Every write is a
POST with its CSRF token, calls one service (one transaction: nothing half-saved) and shows
the service's refusals beside the fields they name; what the actor may not do answers 404,
like an absent record (P10).

* `lists`: worklists, registration;
* `episode`: the pregnancy page, corrections, closing, PMTCT results (L5);
* `records`: visits, grading (also from one visit), delivery with any number of babies,
  discharge, postpartum visits;
* `cases`: high-risk case report and closure, referrals and their outcomes;
* `transfers`: request, incoming list, accept/reject, cancel.
"""

from mchis.maternal.views.cases import case_close, case_report, referral_new, referral_outcome
from mchis.maternal.views.episode import episode_close, episode_edit, infections, pregnancy
from mchis.maternal.views.lists import register, worklist
from mchis.maternal.views.records import (
    delivery_new,
    discharge_new,
    grading_new,
    postpartum_new,
    visit_new,
)
from mchis.maternal.views.transfers import transfer_cancel, transfer_decide, transfer_new, transfers_incoming

__all__ = [
    "case_close",
    "case_report",
    "delivery_new",
    "discharge_new",
    "episode_close",
    "episode_edit",
    "grading_new",
    "infections",
    "postpartum_new",
    "pregnancy",
    "referral_new",
    "referral_outcome",
    "register",
    "transfer_cancel",
    "transfer_decide",
    "transfer_new",
    "transfers_incoming",
    "visit_new",
    "worklist",
]
