"""Registered networks (P5): an institution may restrict its users' logins to listed ranges.

"Dedicated computers; credentials and network details secret" (v1 §5, v3 §5). An institution
without any listed range is unrestricted; once it has one, its users can sign in only from
an address inside one of its ranges. Two places apply the rule: the login form refuses the
password step (`login_allowed`), and `gate_network` ends a session whose requests come from
outside (a session moved to another address, or ranges listed after it began). Refusals are
audited. The ranges are managed by a security administrator over the institution.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from mchis.access.errors import RecordNotFound
from mchis.accounts.gates import Gate
from mchis.accounts.models import InstitutionNetwork, User
from mchis.accounts.selectors import security_admin_covers, security_admin_institutions
from mchis.audit.middleware import source_ip
from mchis.audit.services import audit_denied, audit_record
from mchis.orgs.models import Institution

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- validation -------------------------------------------------------------------------


def network_parse(text: str) -> Network:
    """A CIDR range (IPv4 or IPv6; a bare address is a range of one), or ValidationError on
    field `cidr`. Host bits must be zero: "192.168.1.5/24" is refused with the range it
    probably meant, rather than silently widened or narrowed."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"cidr": [_("enter an address range such as 192.168.10.0/24 or 2001:db8::/48")]})
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValidationError(
            {
                "cidr": [
                    _("%(value)s is not an IPv4 or IPv6 address range (CIDR), e.g. 192.168.10.0/24") % {"value": text}
                ]
            }
        ) from None
    raise ValidationError(
        {
            "cidr": [
                _("%(value)s has host bits set; the range is written %(network)s")
                % {"value": text, "network": str(loose)}
            ]
        }
    )


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- reads ------------------------------------------------------------------------------


def networks_of(*, institution_id: int | None) -> list[Network]:
    if institution_id is None:
        return []
    return [
        ipaddress.ip_network(cidr)
        for cidr in InstitutionNetwork.objects.filter(institution_id=institution_id).values_list("cidr", flat=True)
    ]


def address_inside(*, ip: str | None, networks: list[Network]) -> bool:
    address = _address(ip)
    return address is not None and any(address.version == n.version and address in n for n in networks)


def login_allowed(user: User, ip: str | None, *, networks: list[Network] | None = None) -> bool:
    """Whether `user` may sign in from `ip`: always when their institution lists no range."""
    if networks is None:
        networks = networks_of(institution_id=user.institution_id)
    return not networks or address_inside(ip=ip, networks=networks)


def login_refused_record(*, user: User, ip: str | None) -> None:
    """Audit a login refused because the address is outside the registered networks."""
    audit_denied(
        actor=user,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        reason="login from outside the institution's registered networks (P5)",
        extra={"ip": ip or ""},
    )


def network_institutions(*, actor: User) -> QuerySet[Institution]:
    """Institutions in the security administrator's jurisdiction, with how many ranges each lists."""
    return (
        security_admin_institutions(actor=actor)
        .select_related("region")
        .annotate(network_count=Count("networks"))
        .order_by("region_path", "name")
    )


def network_institution_get(*, actor: User, institution_id: int) -> Institution:
    institution = Institution.objects.select_related("region").filter(pk=institution_id).first()
    if institution is None or not security_admin_covers(actor=actor, institution=institution):
        raise RecordNotFound
    return institution


# --- writes -----------------------------------------------------------------------------


@transaction.atomic
def network_add(*, actor: User, institution: Institution, cidr: str, label: str = "") -> InstitutionNetwork:
    if not security_admin_covers(actor=actor, institution=institution):
        raise RecordNotFound
    network = network_parse(cidr)
    label = (label or "").strip()
    if len(label) > 100:
        raise ValidationError({"label": [_("at most %(n)d characters") % {"n": 100}]})
    text = str(network)
    if InstitutionNetwork.objects.filter(institution=institution, cidr=text).exists():
        raise ValidationError({"cidr": [_("%(network)s is already listed for this institution") % {"network": text}]})
    row = InstitutionNetwork.objects.create(institution=institution, cidr=text, label=label, added_by=actor)
    audit_record(
        action="security",
        actor=actor,
        object_type="accounts.institutionnetwork",
        object_ids=[str(row.pk)],
        fields=["cidr", "label"],
        reason=f"registered network {text} added",
        institution=institution,
    )
    return row


@transaction.atomic
def network_remove(*, actor: User, network_id: int) -> Institution:
    row = InstitutionNetwork.objects.select_related("institution").filter(pk=network_id).first()
    if row is None or not security_admin_covers(actor=actor, institution=row.institution):
        raise RecordNotFound
    institution = row.institution
    audit_record(
        action="security",
        actor=actor,
        object_type="accounts.institutionnetwork",
        object_ids=[str(row.pk)],
        fields=["cidr"],
        reason=f"registered network {row.cidr} removed",
        institution=institution,
    )
    row.delete()
    return institution


# --- the gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lookup:
    networks: list[Network]


def networks_for_request(request) -> list[Network]:
    """The signed-in user's institution's ranges, looked up once per request."""
    cached = getattr(request, "_mchis_networks", None)
    if cached is None:
        cached = _Lookup(networks_of(institution_id=request.user.institution_id))
        request._mchis_networks = cached
    return cached.networks


def gate_network(request) -> Gate | None:
    """Ends a session used from outside its institution's registered networks (P5).

    Cheap (one indexed query per request, none for the rest of the request), so first in
    the gate order: nothing else is worth checking for a session that must end.
    """
    networks = networks_for_request(request)
    ip = source_ip(request)
    if login_allowed(request.user, ip, networks=networks):
        return None
    login_refused_record(user=request.user, ip=ip)
    logout(request)
    message = _("Your institution allows sign-in only from its registered networks (P5).")
    if not request.path.startswith("/api/"):
        # After logout the message travels in the messages cookie to the login page.
        messages.error(request, message)
    return Gate(url_name="login", message=message)
