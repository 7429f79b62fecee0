"""Web pages. Included last in hub/urls.py: /<owner>/<name> patterns must not shadow the API or HF routes
(/{owner}/{name}/resolve/…, /{owner}/{name}.git/…, /api/…), which are matched first."""

from django.urls import path, re_path

from hub.catalog.views import browse, files, history, people, repo, upload
from hub.registry.models import RepoType

OWNER_NAME = r"(?P<owner>[^/]+)/(?P<name>[^/]+)"


def repo_routes(prefix: str, kind: str) -> list:
    base = f"^{prefix}{OWNER_NAME}"
    extra = {"kind": kind}
    routes = [
        re_path(rf"{base}$", repo.card, extra),
        re_path(rf"{base}/tree$", files.tree, extra),
        re_path(rf"{base}/tree/(?P<rest>.+)$", files.tree, extra),
        re_path(rf"{base}/blob/(?P<rest>.+)$", files.blob, extra),
        re_path(rf"{base}/commits$", history.commits, extra),
        re_path(rf"{base}/commits/(?P<rest>.+)$", history.commits, extra),
        re_path(rf"{base}/commit/(?P<sha>[0-9a-fA-F]{{4,40}})$", history.commit, extra),
        re_path(rf"{base}/compare$", history.compare, extra),
        re_path(rf"{base}/upload$", upload.upload, extra),
        re_path(rf"{base}/upload/blob$", upload.upload_blob, extra),
        re_path(rf"{base}/like$", repo.like, extra),
    ]
    if kind == RepoType.MODEL:
        routes.append(re_path(rf"{base}/lineage$", repo.lineage, extra))
    return routes


urlpatterns = [
    path("", browse.home, name="home"),
    path("models", browse.listing, {"kind": RepoType.MODEL}, name="models"),
    path("datasets", browse.listing, {"kind": RepoType.DATASET}, name="datasets"),
    path("signup", people.signup, name="signup"),
    path("new", upload.new_repo, name="new-repo"),
    *repo_routes("datasets/", RepoType.DATASET),
    *repo_routes("", RepoType.MODEL),
    re_path(r"^(?P<owner>[^/]+)$", people.owner, name="owner"),
]
