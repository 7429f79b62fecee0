from django.urls import path, register_converter

from hub.registry.api import views


class KindConverter:
    regex = "models|datasets"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KindConverter, "kind")
repo = "<kind:kind>/<str:owner>/<str:name>"

urlpatterns = [
    path("models", views.RepoSearchView.as_view(kind="model")),
    path("datasets", views.RepoSearchView.as_view(kind="dataset")),
    path("repos", views.RepoCreateView.as_view()),
    path("blobs", views.BlobUploadView.as_view()),
    path(f"{repo}", views.RepoDetailView.as_view()),
    path(f"{repo}/move", views.RepoMoveView.as_view()),
    path(f"{repo}/refs", views.RefListView.as_view()),
    path(f"{repo}/branches", views.BranchCreateView.as_view()),
    path(f"{repo}/branches/<path:ref>", views.BranchDetailView.as_view()),
    path(f"{repo}/tags", views.TagCreateView.as_view()),
    path(f"{repo}/tags/<path:ref>", views.TagDetailView.as_view()),
    path(f"{repo}/commits", views.CommitListView.as_view()),
    path(f"{repo}/commits/<str:sha>", views.CommitDetailView.as_view()),
    path(f"{repo}/tree", views.TreeView.as_view()),
    path(f"{repo}/files/<path:path>", views.FileView.as_view()),
    path(f"{repo}/compare", views.CompareView.as_view()),
    path(f"{repo}/lineage", views.LineageView.as_view()),
    path(f"{repo}/like", views.LikeView.as_view()),
]
