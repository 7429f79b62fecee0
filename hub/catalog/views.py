"""Web catalog views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hub.registry import selectors


def home(request: HttpRequest) -> HttpResponse:
    models = selectors.search_repos(request.user, selectors.SearchQuery(sort="last_modified"))[:24]
    return render(request, "registry/home.html", {"models": models})
