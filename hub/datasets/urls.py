"""Dataset viewer routes, included under /api/v1/ after the registry's (which own datasets/<owner>/<name>)."""

from django.urls import path

from hub.datasets import api

repo = "datasets/<str:owner>/<str:name>"
kind = {"kind": "datasets"}  # what the registry's RepoView expects, for lookups and rename redirects

urlpatterns = [
    path(f"{repo}/viewer", api.ViewerView.as_view(), kind),
    path(f"{repo}/rows", api.RowsView.as_view(), kind),
]
