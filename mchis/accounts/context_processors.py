from django.utils.functional import SimpleLazyObject

from mchis.accounts.navigation import nav_menus
from mchis.accounts.notices import notice_unread_count


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_menus": []}
    bar, menus = nav_menus(user.role_names())
    return {"nav_items": bar, "nav_menus": menus}


def notices(request):
    """The unread-notice count for the navigation badge: one COUNT on an index, run only
    when a template shows it (lazy), at most once per response."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"notice_unread": 0}
    return {"notice_unread": SimpleLazyObject(lambda: notice_unread_count(user=user))}
