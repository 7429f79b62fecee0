"""Reads over the registry: access-checked repo lookup, revisions, trees, history, diffs, search, lineage."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL

from hub.accounts.models import Role, TokenRole, User
from hub.accounts.selectors import has_role, namespace_role, readable_namespace_ids
from hub.core.errors import Forbidden, Invalid, NotFound
from hub.registry import storage, trees
from hub.registry.models import (
    Blob,
    BlobGrant,
    Commit,
    CommitChange,
    Ref,
    Repo,
    RepoBlob,
    RepoLink,
    RepoRedirect,
    RepoTag,
    RepoType,
)  # fmt: skip

_HEX = re.compile(r"^[0-9a-f]{4,40}$")


class RepoMoved(Exception):
    """The name asked for is an old name of this repo."""

    def __init__(self, repo: Repo) -> None:
        super().__init__(repo.full_name)
        self.repo = repo


def repo_not_found(type: str, full_name: str) -> NotFound:
    return NotFound(f"{type.capitalize()} repo {full_name} not found.", code="repo_not_found")


def get_repo(
    *,
    user: User | AnonymousUser,
    type: str,
    full_name: str,
    need: str = Role.READ,
    token_role: str = TokenRole.WRITE,
    follow_redirects: bool = True,
) -> Repo:
    """The repo if `user` may `need` it. Private repos answer NotFound to those who may not read them."""
    if type not in RepoType.values or not isinstance(full_name, str) or "\x00" in full_name:
        raise repo_not_found(str(type), str(full_name))
    repo = Repo.objects.select_related("namespace").filter(type=type, full_name__iexact=full_name).first()
    if repo is None:
        redirect = RepoRedirect.objects.select_related("repo__namespace").filter(type=type, full_name__iexact=full_name)
        redirect = redirect.first()
        if redirect is None or not can_read(user, redirect.repo):
            raise repo_not_found(type, full_name)
        if follow_redirects:
            raise RepoMoved(redirect.repo)
        repo = redirect.repo
    role = namespace_role(user, repo.namespace)
    if repo.private and role is None:
        raise repo_not_found(type, full_name)
    if need != Role.READ:
        if not has_role(role, need):
            raise Forbidden(f"You need the {need} role on {repo.full_name}.", code="forbidden")
        if token_role == TokenRole.READ:
            raise Forbidden("This token is read-only; use a write token to make changes.", code="read_only_token")
    return repo


def can_read(user: User | AnonymousUser, repo: Repo) -> bool:
    return not repo.private or namespace_role(user, repo.namespace) is not None


def visible_repos(user: User | AnonymousUser) -> QuerySet[Repo]:
    ids = readable_namespace_ids(user)
    qs = Repo.objects.all()
    if ids is None:
        return qs
    return qs.filter(Q(private=False) | Q(namespace_id__in=ids))


def usable_blobs(user: User | AnonymousUser | None, sha256s: set[str]) -> dict[str, Blob]:
    """The blobs among `sha256s` that `user` may commit by hash: uploaded by them, or held by a repo they can read.

    `user=None` is the hub itself (seeding, jobs). Unknown and forbidden blobs look the same to the caller.
    """
    blobs = {b.sha256: b for b in Blob.objects.filter(sha256__in=sha256s)}
    if user is None or not blobs:
        return blobs
    if not user.is_authenticated:
        return {}
    allowed = set(BlobGrant.objects.filter(user=user, sha256__in=blobs).values_list("sha256", flat=True))
    rest = blobs.keys() - allowed
    if rest:
        readable = RepoBlob.objects.filter(sha256__in=rest, repo__in=visible_repos(user))
        allowed |= set(readable.values_list("sha256", flat=True))
    return {sha: blob for sha, blob in blobs.items() if sha in allowed}


# --- revisions -----------------------------------------------------------------------------------------


def resolve_revision(repo: Repo, revision: str | None) -> Commit:
    """A branch, a tag, or a full or short (≥ 7 hex) commit id of this repo."""
    revision = revision or "main"
    if not isinstance(revision, str) or len(revision) > 255 or any(ord(c) < 0x20 for c in revision):
        raise Invalid("A revision must be a branch, a tag or a commit id.", code="invalid_revision")
    if len(revision) == 40 and _HEX.match(revision):
        commit = Commit.objects.filter(repo=repo, sha=revision).first()
        if commit:
            return commit
    ref = Ref.objects.filter(repo=repo, name=revision).order_by("kind").select_related("commit").first()
    if ref is not None:  # "branch" sorts before "tag": a branch wins over a tag of the same name
        return ref.commit
    if 7 <= len(revision) < 40 and _HEX.match(revision):
        matches = list(Commit.objects.filter(repo=repo, sha__startswith=revision)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Invalid(f"Short commit id '{revision}' is ambiguous.", code="ambiguous_revision")
    raise NotFound(f"Revision '{revision}' not found in {repo.full_name}.", code="revision_not_found")


def snapshot(commit: Commit) -> trees.Snapshot:
    return trees.load(commit.tree_id)


def get_file(commit: Commit, path: str) -> trees.FileRef:
    """(sha256, size, git_sha1) of the file at `path`, or NotFound."""
    entry = snapshot(commit).files.get(path)
    if entry is None:
        raise NotFound(f"File '{path}' not found at {commit.sha[:12]}.", code="entry_not_found")
    return entry


def list_tree(commit: Commit, folder: str, *, recursive: bool) -> list[trees.Entry]:
    snap = snapshot(commit)
    if folder and not snap.is_folder(folder):
        raise NotFound(f"Folder '{folder}' not found at {commit.sha[:12]}.", code="entry_not_found")
    return trees.list_folder(snap, folder, recursive=recursive)


def refs(repo: Repo) -> list[Ref]:
    return list(Ref.objects.filter(repo=repo).select_related("commit").order_by("kind", "name"))


def history(repo: Repo, head: Commit, *, path: str | None = None, offset: int = 0, limit: int = 50) -> list[Commit]:
    """Commits reachable from `head` by first parents, newest first; only those touching `path` when given."""
    sql = """
        WITH RECURSIVE chain(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM registry_commit WHERE id = %s
            UNION ALL
            SELECT c.id, c.parent_id, chain.depth + 1
            FROM registry_commit c JOIN chain ON c.id = chain.parent_id
        )
        SELECT chain.id FROM chain
    """
    params: list = [head.pk]
    if path:
        sql += """ WHERE EXISTS (SELECT 1 FROM registry_commitchange ch WHERE ch.commit_id = chain.id
                   AND (ch.path = %s OR ch.path LIKE %s ESCAPE '!'))"""
        escaped = path.rstrip("/").replace("!", "!!").replace("%", "!%").replace("_", "!_")
        params += [path.rstrip("/"), escaped + "/%"]
    sql += " ORDER BY chain.depth LIMIT %s OFFSET %s"
    params += [limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    by_id = Commit.objects.select_related("author").in_bulk(ids)
    return [by_id[i] for i in ids]


def commit_changes(commit: Commit) -> list[CommitChange]:
    return list(commit.changes.order_by("path"))


# --- compare -------------------------------------------------------------------------------------------

TEXT_DIFF_MAX_BYTES = 256 * 1024


@dataclass
class FileDiff:
    path: str
    status: str
    old_size: int | None
    new_size: int | None
    diff: str | None  # unified text diff for small text files


def _text(sha256: str) -> str | None:
    data = storage.read_blob(sha256, limit=TEXT_DIFF_MAX_BYTES + 1)
    if len(data) > TEXT_DIFF_MAX_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def compare(base: Commit, head: Commit, *, with_text: bool = True) -> list[FileDiff]:
    result = []
    for change in trees.diff(snapshot(base).files, snapshot(head).files):
        text_diff = None
        old_size = change.old.size if change.old else None
        new_size = change.new.size if change.new else None
        small = max(old_size or 0, new_size or 0) <= TEXT_DIFF_MAX_BYTES
        if with_text and small:
            old_text = _text(change.old.sha256) if change.old else ""
            new_text = _text(change.new.sha256) if change.new else ""
            if old_text is not None and new_text is not None:
                text_diff = "".join(
                    difflib.unified_diff(
                        old_text.splitlines(keepends=True),
                        new_text.splitlines(keepends=True),
                        fromfile=f"a/{change.path}" if change.old else "/dev/null",
                        tofile=f"b/{change.path}" if change.new else "/dev/null",
                    )
                )
        result.append(FileDiff(change.path, change.status, old_size, new_size, text_diff))
    return result


# --- lineage -------------------------------------------------------------------------------------------


@dataclass
class LineageNode:
    name: str
    relation: str
    repo: Repo | None  # None when the parent lives outside this hub


def parents(user: User | AnonymousUser, repo: Repo) -> list[LineageNode]:
    links = list(RepoLink.objects.filter(child=repo).order_by("parent_name"))
    names = [link.parent_name for link in links]
    found = {r.full_name.lower(): r for r in visible_repos(user).filter(type=RepoType.MODEL, full_name__in=names)}
    return [LineageNode(link.parent_name, link.relation, found.get(link.parent_name.lower())) for link in links]


def children(user: User | AnonymousUser, repo: Repo) -> list[LineageNode]:
    links = (
        RepoLink.objects.filter(parent_name__iexact=repo.full_name, child__in=visible_repos(user))
        .select_related("child")
        .order_by("relation", "child__full_name")
    )
    return [LineageNode(link.child.full_name, link.relation, link.child) for link in links]


def children_counts(user: User | AnonymousUser, repo: Repo) -> dict[str, int]:
    rows = (
        RepoLink.objects.filter(parent_name__iexact=repo.full_name, child__in=visible_repos(user))
        .values("relation")
        .annotate(n=Count("id"))
    )
    return {row["relation"]: row["n"] for row in rows}


# --- search --------------------------------------------------------------------------------------------

SORTS = {
    "trending": "trending_score",
    "downloads": "downloads",
    "likes": "likes",
    "last_modified": "last_modified",
    "lastModified": "last_modified",
    "updated": "last_modified",
    "created": "created_at",
    "createdAt": "created_at",
    "name": "full_name",
}


@dataclass
class SearchQuery:
    type: str = RepoType.MODEL
    q: str = ""
    owner: str = ""
    task: str = ""
    library: str = ""
    license: str = ""
    base_model: str = ""
    tags: tuple[str, ...] = ()
    sort: str = "trending"
    descending: bool = True


def search_repos(user: User | AnonymousUser, query: SearchQuery) -> QuerySet[Repo]:
    if query.type not in RepoType.values:
        raise Invalid(f"type must be one of {', '.join(RepoType.values)}.", code="invalid_type")
    if query.sort not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(sorted(SORTS))}.", code="invalid_sort")
    fields = (query.owner, query.task, query.library, query.license, query.base_model, *query.tags)
    if any("\x00" in value for value in fields):
        return Repo.objects.none()  # no name or tag holds NUL (and Postgres refuses it in a query)
    qs = visible_repos(user).filter(type=query.type).select_related("namespace")
    if query.owner:
        qs = qs.filter(namespace__name__iexact=query.owner)
    if query.task:
        qs = qs.filter(pipeline_tag=query.task)
    if query.library:
        qs = qs.filter(library_name=query.library)
    if query.license:
        qs = qs.filter(license=query.license)
    tags = list(query.tags)
    if query.base_model:
        tags.append(f"base_model:{query.base_model}")
    for tag in tags:
        qs = qs.filter(pk__in=RepoTag.objects.filter(tag=tag).values("repo_id"))
    text = query.q.replace("\x00", " ").strip()  # Postgres refuses NUL in text
    if text:
        qs = _full_text(qs, text[:200])
    field = SORTS[query.sort]
    order = f"-{field}" if query.descending else field
    return qs.order_by(order, "-id" if query.descending else "id")


def _full_text(qs: QuerySet[Repo], text: str) -> QuerySet[Repo]:
    if connection.vendor == "postgresql":
        # search_vector is a generated tsvector column with a GIN index (migration 0002); the name match
        # uses a trigram index, so a substring of a repo id matches as on the public hub.
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # A RawSQL id subquery (not .extra) keeps working when this queryset is itself used as a subquery.
        matching = RawSQL(
            "SELECT id FROM registry_repo WHERE search_vector @@ plainto_tsquery('english', %s) OR full_name ILIKE %s",
            [text, like],
        )
        return qs.filter(pk__in=matching)
    condition = Q()
    for word in text.split()[:10]:
        condition &= Q(full_name__icontains=word) | Q(search_text__icontains=word)
    return qs.filter(Q(full_name__icontains=text) | condition)


def facet_counts(qs: QuerySet[Repo], field: str, limit: int = 20) -> list[tuple[str, int]]:
    rows = qs.order_by().exclude(**{field: ""}).values(field).annotate(n=Count("id")).order_by("-n", field)[:limit]
    return [(row[field], row["n"]) for row in rows]
