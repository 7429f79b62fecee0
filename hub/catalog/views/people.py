"""Sign-up, and the page of a user or an organisation (/{owner})."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from hub.accounts import services as account_services
from hub.accounts.models import Membership
from hub.accounts.selectors import get_namespace, user_organisations
from hub.catalog import selectors as catalog
from hub.catalog.forms import SignupForm
from hub.catalog.views.common import error_page
from hub.core.errors import HubError
from hub.registry.models import RepoType


def signups_open() -> bool:
    return getattr(settings, "HUB_ALLOW_SIGNUP", True)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not signups_open():
        return error_page(request, 403, "Sign-up is closed on this hub; ask an administrator for an account.")
    if request.user.is_authenticated:
        return HttpResponseRedirect("/")
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = "/"
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = account_services.create_user(
                username=data["username"], password=data["password"], email=data["email"]
            )
        except HubError as exc:
            form.add_error("username", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return HttpResponseRedirect(next_url)
    status = 400 if form.errors else 200
    return render(request, "accounts/signup.html", {"form": form, "next": next_url}, status=status)


def owner(request: HttpRequest, owner: str) -> HttpResponse:
    try:
        namespace = get_namespace(owner)
    except HubError as exc:
        return error_page(request, exc.status, exc.message)
    models, model_count = catalog.owner_repos(request.user, namespace, RepoType.MODEL)
    datasets, dataset_count = catalog.owner_repos(request.user, namespace, RepoType.DATASET)
    context = {
        "namespace": namespace,
        "models": models,
        "model_count": model_count,
        "datasets": datasets,
        "dataset_count": dataset_count,
    }
    if namespace.is_organisation:
        members = Membership.objects.filter(organisation_id=namespace.organisation_id).select_related("user")
        context["org"] = namespace.organisation
        context["members"] = [(m.user.username, m.role) for m in members.order_by("user__username")]
    else:
        context["organisations"] = [org.name for org, _ in user_organisations(namespace.user)]
    return render(request, "catalog/owner.html", context)
