from django.shortcuts import render


def home(request):
    return render(request, "accounts/home.html", {"assignments": request.user.active_roles()})
