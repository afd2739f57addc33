"""Transfers: the owner asks another institution to take the episode over, the receiving side
accepts or rejects, the owner may withdraw its request while it waits."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mchis.access.errors import RecordNotFound
from mchis.access.purposes import purpose_for
from mchis.maternal import selectors, services
from mchis.maternal.forms import TransferCancelForm, TransferRequestForm
from mchis.maternal.views.common import (
    back,
    care_institutions,
    episode,
    is_writer,
    item,
    posted,
    refused,
    require,
    submit,
)
from mchis.orgs.models import Institution
from mchis.people.forms import apply_errors

TRANSFER = "maternal.transfer"


def transfer_new(request, pregnancy_id):
    form = TransferRequestForm(posted(request), institutions=care_institutions(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            refused(services.transfer_request, actor=request.user, pregnancy_id=pregnancy_id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Transfer requested; the receiving institution must accept it."))
            return back(pregnancy_id)
    p = episode(request, pregnancy_id)
    # Only the owner's clinicians ask for a transfer (the service decides the POST alike).
    require(request, p.abilities.owner, object_ids=[p.id])
    return render(request, "maternal/transfer_form.html", {"p": p, "form": form})


def transfers_incoming(request):
    transfers = selectors.transfer_list_incoming(actor=request.user, purpose=purpose_for(request.user))
    return render(request, "maternal/transfers.html", {"transfers": transfers, "can_write": is_writer(request.user)})


def transfer_decide(request, transfer_id):
    if request.method != "POST":
        return redirect("maternal:transfers")
    decision = request.POST.get("decision")
    note = request.POST.get("note", "")
    try:
        if decision == "accept":
            change = refused(services.transfer_accept, actor=request.user, transfer_id=transfer_id, note=note)
            messages.info(request, _("Transfer accepted: the pregnancy is now managed here."))
            return redirect("maternal:pregnancy", pregnancy_id=change.obj.pregnancy_id)
        if decision == "reject":
            refused(services.transfer_reject, actor=request.user, transfer_id=transfer_id, note=note)
            messages.info(request, _("Transfer rejected."))
        else:
            raise RecordNotFound
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for m in msgs:
                messages.error(request, m)
    return redirect("maternal:transfers")


@require_http_methods(["GET", "POST"])
def transfer_cancel(request, pregnancy_id, transfer_id):
    """The requesting institution withdraws its pending transfer (the pregnancy page posts
    here; the page itself asks for confirmation when opened by its address)."""
    p = episode(request, pregnancy_id)
    require(request, p.abilities.owner, object_ids=[p.id])
    transfer = item(request, p.transfers, transfer_id, object_type=TRANSFER)
    form = TransferCancelForm(posted(request))
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.transfer_cancel,
            success=_("Transfer request cancelled."),
            transfer_id=transfer.id,
            note=form.cleaned_data["note"],
        )
        if change is not None:
            return back(p.id)
    to_name = Institution.objects.filter(pk=transfer.values["to_institution_id"]).values_list("name", flat=True)
    return render(
        request,
        "maternal/transfer_cancel.html",
        {"p": p, "form": form, "transfer": transfer, "to_name": to_name.first() or ""},
    )
