from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.services import break_glass_hours, break_glass_open, break_glass_review, break_glass_reviewable
from mchis.people.forms import BreakGlassForm, BreakGlassReviewForm, apply_errors


def break_glass(request):
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grant = break_glass_open(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        except (NotAllowed, RecordNotFound):
            form.add_error("document_number", _("No person with this document number was found."))
        else:
            messages.warning(
                request,
                _("Emergency access opened until %(time)s. It is recorded and will be reviewed.")
                % {"time": grant.expires_at.astimezone().strftime("%H:%M")},
            )
            return redirect("people:detail", person_id=grant.person_id)
    return render(request, "access/break_glass.html", {"form": form, "hours": break_glass_hours()})


def review_list(request):
    grants = break_glass_reviewable(reviewer=request.user)[:100]
    return render(request, "access/review_list.html", {"grants": grants, "form": BreakGlassReviewForm()})


@require_POST
def review(request, grant_id):
    form = BreakGlassReviewForm(request.POST)
    if form.is_valid():
        try:
            break_glass_review(reviewer=request.user, grant_id=grant_id, **form.cleaned_data)
        except ValidationError as exc:
            for errors in exc.message_dict.values():
                for error in errors:
                    messages.error(request, error)
        else:
            messages.info(request, _("Review recorded."))
    return redirect("access:review_list")
