"""Page URLs of the catalog, HF-like: /{owner}/{name} for models, /datasets/{owner}/{name} for datasets.

Revisions and paths are percent-encoded but keep their '/', as on the public hub; the views split
'rev/path' by the longest existing ref name (see selectors.split_revision).
"""

from __future__ import annotations

from urllib.parse import quote

from hub.registry.models import Repo, RepoType


def kind_prefix(type: str) -> str:
    return "/datasets/" if type == RepoType.DATASET else "/"


def repo_path(repo: Repo) -> str:
    return kind_prefix(repo.type) + repo.full_name


def _join(*parts: str) -> str:
    return "/".join(quote(p, safe="/") for p in parts if p)


def tree_path(repo: Repo, rev: str, path: str = "") -> str:
    return f"{repo_path(repo)}/tree/{_join(rev, path)}"


def blob_path(repo: Repo, rev: str, path: str) -> str:
    return f"{repo_path(repo)}/blob/{_join(rev, path)}"


def resolve_path(repo: Repo, rev: str, path: str) -> str:
    """The HF protocol's download route (it counts downloads and serves Range requests)."""
    return f"{repo_path(repo)}/resolve/{_join(rev, path)}"


def commits_path(repo: Repo, rev: str, path: str = "") -> str:
    return f"{repo_path(repo)}/commits/{_join(rev, path)}"


def commit_path(repo: Repo, sha: str) -> str:
    return f"{repo_path(repo)}/commit/{sha}"


def api_path(repo: Repo) -> str:
    return f"/api/v1/{repo.type}s/{repo.full_name}"
