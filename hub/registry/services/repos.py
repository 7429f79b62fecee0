"""Repo lifecycle: create, rename/move, visibility, delete, likes, downloads."""

from __future__ import annotations

import math

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hub.accounts.models import Namespace, User
from hub.core import stamp
from hub.core.errors import Conflict, Invalid
from hub.core.names import validate_name
from hub.registry.models import Like, Repo, RepoLink, RepoRedirect, RepoType

TRENDING_HALF_LIFE_S = 3 * 24 * 3600
DEFAULT_GITATTRIBUTES = b"""*.bin filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


def _check_type(type: str) -> None:
    if type not in RepoType.values:
        raise Invalid(f"type must be one of {', '.join(RepoType.values)}.", code="invalid_type")


def _taken(type: str, namespace: Namespace, name: str, exclude: Repo | None = None) -> bool:
    existing = Repo.objects.filter(type=type, namespace=namespace, name__iexact=name)
    if exclude is not None:
        existing = existing.exclude(pk=exclude.pk)
    return existing.exists()


def create_repo(
    *, namespace: Namespace, name: str, type: str = RepoType.MODEL, private: bool = False, author: User | None
) -> Repo:
    """A new repo whose `main` holds one commit with a .gitattributes, as on the public hub."""
    from hub.registry.services.commits import AddFile, create_commit

    _check_type(type)
    validate_name(name, what="repo name")
    full_name = f"{namespace.name}/{name}"
    with transaction.atomic():
        if _taken(type, namespace, name):
            raise Conflict(f"{type} repo {full_name} already exists.", code="repo_exists", url=full_name)
        try:
            with transaction.atomic():
                repo = Repo.objects.create(
                    type=type, namespace=namespace, name=name, full_name=full_name, private=bool(private)
                )
        except IntegrityError as exc:
            raise Conflict(f"{type} repo {full_name} already exists.", code="repo_exists", url=full_name) from exc
        # A new repo takes its name back from an older repo that was renamed away from it.
        RepoRedirect.objects.filter(type=type, full_name__iexact=full_name).delete()
        create_commit(
            repo=repo,
            author=author,
            title="initial commit",
            operations=[AddFile(path=".gitattributes", content=DEFAULT_GITATTRIBUTES)],
        )
    repo.refresh_from_db()
    return repo


@transaction.atomic
def move_repo(*, repo: Repo, namespace: Namespace, name: str) -> Repo:
    """Rename and/or move to another namespace; the old name keeps redirecting here."""
    validate_name(name, what="repo name")
    new_full = f"{namespace.name}/{name}"
    if new_full == repo.full_name:
        return repo
    if _taken(repo.type, namespace, name, exclude=repo):
        raise Conflict(f"{repo.type} repo {new_full} already exists.", code="repo_exists", url=new_full)
    old_full = repo.full_name
    RepoRedirect.objects.filter(type=repo.type, full_name__iexact=new_full).delete()
    RepoRedirect.objects.create(type=repo.type, full_name=old_full, repo=repo)
    repo.namespace, repo.name, repo.full_name = namespace, name, new_full
    repo.save(update_fields=["namespace", "name", "full_name"])
    # Lineage follows the repo: children that named the old name now name the new one.
    RepoLink.objects.filter(parent_name__iexact=old_full).update(parent_name=new_full)
    return repo


def set_private(*, repo: Repo, private: bool) -> Repo:
    if not isinstance(private, bool):
        raise Invalid("private must be true or false.", code="invalid")
    Repo.objects.filter(pk=repo.pk).update(private=private)
    stamp.bump()  # cached access lookups (hub.core.stamp) see the new visibility on the next request
    repo.private = private
    return repo


@transaction.atomic
def delete_repo(*, repo: Repo) -> None:
    """Delete a repo with its commits and refs. Blobs stay until `manage.py gc_blobs` finds them unused."""
    from hub.registry.models import Ref

    Ref.objects.filter(repo=repo).delete()
    repo.delete()


def bump_trending(repo: Repo, weight: float) -> None:
    """Exponentially decayed activity score: old activity halves every TRENDING_HALF_LIFE_S."""
    now = timezone.now()
    row = Repo.objects.filter(pk=repo.pk).values("trending_score", "trending_at").first()
    if row is None:
        return
    score = row["trending_score"]
    if row["trending_at"] is not None:
        age = (now - row["trending_at"]).total_seconds()
        score *= math.pow(0.5, max(age, 0) / TRENDING_HALF_LIFE_S)
    Repo.objects.filter(pk=repo.pk).update(trending_score=score + weight, trending_at=now)


def record_download(*, repo: Repo) -> None:
    Repo.objects.filter(pk=repo.pk).update(downloads=F("downloads") + 1)
    bump_trending(repo, 1.0)


def like(*, repo: Repo, user: User) -> int:
    with transaction.atomic():
        _, created = Like.objects.get_or_create(repo=repo, user=user)
        if created:
            Repo.objects.filter(pk=repo.pk).update(likes=F("likes") + 1)
    if created:
        bump_trending(repo, 5.0)
    return Repo.objects.values_list("likes", flat=True).get(pk=repo.pk)


def unlike(*, repo: Repo, user: User) -> int:
    with transaction.atomic():
        deleted, _ = Like.objects.filter(repo=repo, user=user).delete()
        if deleted:
            Repo.objects.filter(pk=repo.pk).update(likes=F("likes") - 1)
    return Repo.objects.values_list("likes", flat=True).get(pk=repo.pk)
