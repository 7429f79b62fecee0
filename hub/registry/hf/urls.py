"""Routes of the HF Hub protocol, as huggingface_hub 2.x builds them (no trailing slashes; repo ids unquoted)."""

from django.urls import path, re_path

from hub.registry.hf import files, lfs, reads, repos

KIND = r"(?P<kind>models|datasets|spaces)"
REPO = rf"api/{KIND}/(?P<owner>[^/]+)/(?P<name>[^/]+)"
OWNER_NAME = r"(?P<owner>[^/]+)/(?P<name>[^/]+)"

urlpatterns = [
    path("api/agent-harnesses", repos.agent_harnesses),
    path("api/whoami-v2", repos.whoami),
    path("api/validate-yaml", repos.validate_yaml),
    path("api/repos/create", repos.create_repo),
    path("api/repos/delete", repos.delete_repo),
    path("api/repos/move", repos.move_repo),
    path("api/lfs/objects/<str:oid>", lfs.object_transfer),
    path("api/lfs/multipart/<str:oid>/complete", lfs.multipart_complete),
    path("api/lfs/multipart/<str:oid>/<int:part>", lfs.multipart_part),
    path("api/lfs/verify", lfs.verify),
    re_path(rf"^api/{KIND}$", reads.list_repos),
    re_path(rf"^{REPO}$", reads.repo_info),
    re_path(rf"^{REPO}/revision/(?P<revision>.+)$", reads.repo_info),
    re_path(rf"^{REPO}/settings$", repos.repo_settings),
    re_path(rf"^{REPO}/tree/(?P<rest>.+)$", reads.tree),
    re_path(rf"^{REPO}/paths-info/(?P<revision>.+)$", reads.paths_info),
    re_path(rf"^{REPO}/refs$", reads.refs),
    re_path(rf"^{REPO}/commits/(?P<revision>.+)$", reads.commits),
    re_path(rf"^{REPO}/branch/(?P<branch>.+)$", reads.branch),
    re_path(rf"^{REPO}/tag/(?P<ref>.+)$", reads.tag),
    re_path(rf"^{REPO}/discussions$", reads.discussions),
    re_path(rf"^{REPO}/preupload/(?P<revision>.+)$", files.preupload),
    re_path(rf"^{REPO}/commit/(?P<revision>.+)$", files.commit),
    re_path(rf"^datasets/{OWNER_NAME}\.git/info/lfs/objects/batch$", lfs.batch, {"kind": "datasets"}),
    re_path(rf"^{OWNER_NAME}\.git/info/lfs/objects/batch$", lfs.batch),
    re_path(rf"^datasets/{OWNER_NAME}/resolve/(?P<rest>.+)$", files.resolve_file, {"kind": "datasets"}),
    re_path(rf"^{OWNER_NAME}/resolve/(?P<rest>.+)$", files.resolve_file),
]
