"""The national maternal care schedule (孕产妇健康管理服务规范, 3rd edition; DOMAIN "Maternal care").

| contact | window | anchor |
|---|---|---|
| anc1: registration and 1st antenatal check | before 13 weeks: 0w0d–12w6d | gestation |
| anc2 | 16–20 weeks: 16w0d–20w6d | gestation |
| anc3 | 21–24 weeks: 21w0d–24w6d | gestation |
| anc4 | 28–36 weeks: 28w0d–36w6d | gestation |
| anc5 | 37–40 weeks: 37w0d–40w6d | gestation |
| pp_home: postpartum home visit | within 1 week of discharge: discharge day + 0–7 days | discharge (or delivery) |
| pp42: 42-day check | day 42 to day 42 + MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS | delivery |

"16–20 weeks" is read as completed weeks, so the window runs to 20w6d and the next one starts at
21w0d: the windows meet without overlapping. Gestational age is counted in days from the
dating basis: day 0 is the LMP (or the date the ultrasound puts there), the EDD is day 280.

Everything here is pure (no database): the services call it to denormalise the next contact
onto the pregnancy, and the selectors to show a pregnancy's schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _

PREGNANCY_DAYS = 280
ANTENATAL = "antenatal"
POSTPARTUM = "postpartum"
# The postpartum home visit: within one week of discharge (DOMAIN).
HOME_VISIT_DAYS = 7
PP42_DAY = 42


@dataclass(frozen=True)
class Contact:
    code: str
    stage: str
    label: object
    # Antenatal: gestational days (inclusive). Postpartum: days after the anchor (inclusive).
    first_day: int
    last_day: int


ANTENATAL_CONTACTS: tuple[Contact, ...] = (
    Contact("anc1", ANTENATAL, _("1st antenatal check (before 13 weeks)"), 0, 13 * 7 - 1),
    Contact("anc2", ANTENATAL, _("2nd antenatal check (16-20 weeks)"), 16 * 7, 21 * 7 - 1),
    Contact("anc3", ANTENATAL, _("3rd antenatal check (21-24 weeks)"), 21 * 7, 25 * 7 - 1),
    Contact("anc4", ANTENATAL, _("4th antenatal check (28-36 weeks)"), 28 * 7, 37 * 7 - 1),
    Contact("anc5", ANTENATAL, _("5th antenatal check (37-40 weeks)"), 37 * 7, 41 * 7 - 1),
)


def pp42_window_days() -> int:
    return int(settings.MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS)


def postpartum_contacts() -> tuple[Contact, ...]:
    return (
        Contact("pp_home", POSTPARTUM, _("postpartum home visit (within 1 week of discharge)"), 0, HOME_VISIT_DAYS),
        Contact("pp42", POSTPARTUM, _("42-day check"), PP42_DAY, PP42_DAY + pp42_window_days()),
    )


def contact_by_code(code: str) -> Contact | None:
    for c in (*ANTENATAL_CONTACTS, *postpartum_contacts()):
        if c.code == code:
            return c
    return None


CONTACT_CODES = (*(c.code for c in ANTENATAL_CONTACTS), "pp_home", "pp42")
POSTPARTUM_CODES = ("pp_home", "pp42")


@dataclass(frozen=True)
class GestationalAge:
    days: int

    @property
    def weeks(self) -> int:
        return self.days // 7

    @property
    def extra_days(self) -> int:
        return self.days % 7

    def __str__(self) -> str:
        # The clinical notation, "12+6" (12 weeks and 6 days).
        return f"{self.weeks}+{self.extra_days}"


def edd_from_lmp(lmp: date) -> date:
    """Naegele's rule as DOMAIN states it: EDD = LMP + 280 days."""
    return lmp + timedelta(days=PREGNANCY_DAYS)


def edd_from_ultrasound(scan_on: date, ga_days: int) -> date:
    """The scan says she was `ga_days` pregnant on `scan_on`; day 280 is the EDD."""
    return scan_on + timedelta(days=PREGNANCY_DAYS - ga_days)


def day_zero(edd: date) -> date:
    return edd - timedelta(days=PREGNANCY_DAYS)


def gestational_days(*, edd: date, on: date) -> int:
    """Days of gestation on `on` (negative before day 0)."""
    return (on - day_zero(edd)).days


def gestational_age(*, edd: date, on: date) -> GestationalAge:
    return GestationalAge(gestational_days(edd=edd, on=on))


@dataclass(frozen=True)
class Window:
    contact: Contact
    start: date
    end: date

    @property
    def code(self) -> str:
        return self.contact.code

    def contains(self, on: date) -> bool:
        return self.start <= on <= self.end


def antenatal_windows(*, edd: date) -> list[Window]:
    zero = day_zero(edd)
    return [
        Window(c, zero + timedelta(days=c.first_day), zero + timedelta(days=c.last_day)) for c in ANTENATAL_CONTACTS
    ]


def postpartum_windows(*, delivered_on: date, discharged_on: date | None) -> list[Window]:
    """The home visit counts from discharge (from the delivery day when she was not admitted or
    the discharge is not recorded yet); the 42-day check from the delivery day."""
    home, check = postpartum_contacts()
    anchor = discharged_on or delivered_on
    return [
        Window(home, anchor + timedelta(days=home.first_day), anchor + timedelta(days=home.last_day)),
        Window(check, delivered_on + timedelta(days=check.first_day), delivered_on + timedelta(days=check.last_day)),
    ]


def windows_for(*, edd: date, delivered_on: date | None, discharged_on: date | None) -> list[Window]:
    """The windows of the episode's current stage (antenatal until delivery, then postpartum)."""
    if delivered_on is None:
        return antenatal_windows(edd=edd)
    return postpartum_windows(delivered_on=delivered_on, discharged_on=discharged_on)


def contact_fulfilled_by(*, windows: Iterable[Window], on: date, done: Iterable[str]) -> Window | None:
    """The contact a visit on `on` fulfils: the window containing it, unless already fulfilled.

    A visit outside every window (13w0d–15w6d, for instance) is an extra visit: it fulfils
    nothing, and a contact whose window has passed can no longer be fulfilled.
    """
    done = set(done)
    for w in windows:
        if w.contains(on) and w.code not in done:
            return w
    return None


def next_window(*, windows: Iterable[Window], done: Iterable[str], as_of: date) -> Window | None:
    """The first contact not yet fulfilled whose window had not closed on `as_of`.

    `as_of` is the date of the episode's latest event (registration, visit, delivery,
    discharge), not today: the result is stored on the pregnancy and stays true until the next
    event. A window that closes without a visit leaves the contact there, overdue (`is_overdue`),
    until a visit moves the episode on.
    """
    done = set(done)
    for w in windows:
        if w.code not in done and w.end >= as_of:
            return w
    return None


def is_overdue(window: Window, *, today: date) -> bool:
    return window.end < today


class Status:
    DONE = "done"
    MISSED = "missed"
    DUE = "due"
    UPCOMING = "upcoming"


@dataclass(frozen=True)
class ContactStatus:
    window: Window
    status: str


def schedule_status(*, windows: Iterable[Window], done: Iterable[str], today: date) -> list[ContactStatus]:
    """Each contact of the stage: done, missed (window closed without a visit), due (window
    open today) or upcoming."""
    done = set(done)
    out = []
    for w in windows:
        if w.code in done:
            status = Status.DONE
        elif w.end < today:
            status = Status.MISSED
        elif w.start <= today:
            status = Status.DUE
        else:
            status = Status.UPCOMING
        out.append(ContactStatus(w, status))
    return out


def week_bounds(today: date) -> tuple[date, date]:
    """Monday to Sunday of the week holding `today`."""
    monday = today - timedelta(days=today.weekday())
    return monday, monday + timedelta(days=6)


def month_bounds(today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)
