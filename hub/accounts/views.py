"""Web pages for accounts: sign in/out and the token settings page (session-authenticated)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hub.accounts import services
from hub.accounts.models import TokenRole
from hub.core.errors import HubError


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            token, plaintext = services.issue_token(
                user=request.user, name=request.POST.get("name", ""), role=request.POST.get("role", TokenRole.READ)
            )
        except HubError as exc:
            messages.error(request, exc.message)
            return redirect("tokens")
        # Post/redirect/get: the plaintext rides in the session for exactly one page view, so a reload
        # neither shows it again nor issues a second token.
        request.session["new_token"] = {"id": token.pk, "plaintext": plaintext}
        return redirect("tokens")
    new_token = None
    flashed = request.session.pop("new_token", None)
    if flashed:
        token = request.user.tokens.filter(pk=flashed["id"]).first()
        if token is not None:
            new_token = {"token": token, "plaintext": flashed["plaintext"]}
    response = render(
        request,
        "accounts/tokens.html",
        {"tokens": request.user.tokens.all(), "new_token": new_token, "roles": TokenRole.values},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = request.user.tokens.filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    services.revoke_token(token=token)
    messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("tokens")
