"""HF protocol: repo info, listings, tree, paths-info, refs, commits, branches and tags."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from hub.accounts.models import Role
from hub.core.errors import Conflict, Invalid, NotFound
from hub.core.http import page_link
from hub.registry import selectors, trees
from hub.registry.hf.common import KINDS, find_repo, hf_view, is_lfs, iso, read_json, resolve, split_revision
from hub.registry.models import Commit, Ref, Repo, RepoType
from hub.registry.paths import validate_folder
from hub.registry.services import commits as commit_services
from hub.security.pickles import is_pickle_path
from hub.security.services import hf_security_status, scans_for
from hub.xet.services import xet_hashes_for

POINTER_SIZE = 134  # size of a git-lfs pointer file, which the client only displays
TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
SORTS = {
    None: "trending", "": "trending", "trendingScore": "trending", "trending_score": "trending",
    "downloads": "downloads", "likes": "likes", "lastModified": "last_modified", "last_modified": "last_modified",
    "createdAt": "created", "created_at": "created", "id": "name", "modelId": "name",
}  # fmt: skip


def _sibling(path: str, ref: trees.FileRef, *, blobs: bool) -> dict:
    item: dict = {"rfilename": path}
    if blobs:
        item["size"] = ref.size
        item["blobId"] = ref.git_sha1
        if is_lfs(ref.size):
            item["lfs"] = {"sha256": ref.sha256, "size": ref.size, "pointerSize": POINTER_SIZE}
    return item


def _repo_summary(repo: Repo) -> dict:
    body = {
        "_id": str(repo.pk),
        "id": repo.full_name,
        "author": repo.full_name.split("/")[0],
        "private": repo.private,
        "gated": False,
        "disabled": False,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "trendingScore": round(repo.trending_score),
        "tags": repo.tags,
        "createdAt": iso(repo.created_at),
        "lastModified": iso(repo.last_modified),
    }
    if repo.type == RepoType.MODEL:
        body["modelId"] = repo.full_name
        if repo.pipeline_tag:
            body["pipeline_tag"] = repo.pipeline_tag
        if repo.library_name:
            body["library_name"] = repo.library_name
    return body


def repo_info_body(repo: Repo, commit: Commit, *, blobs: bool) -> dict:
    files = selectors.snapshot(commit).files
    body = _repo_summary(repo)
    body["sha"] = commit.sha
    body["lastModified"] = iso(commit.created_at)
    body["cardData"] = repo.card_data or {}
    body["siblings"] = [_sibling(p, ref, blobs=blobs) for p, ref in files.items()]
    body["spaces"] = []
    if blobs:
        body["usedStorage"] = sum(ref.size for ref in files.values())
    return body


@hf_view(("GET",))
def repo_info(request: HttpRequest, kind: str, owner: str, name: str, revision: str | None = None) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    commit = resolve(repo, revision or "main")
    return JsonResponse(repo_info_body(repo, commit, blobs=request.GET.get("blobs") in ("true", "1", "True")))


@hf_view(("GET",))
def list_repos(request: HttpRequest, kind: str) -> JsonResponse:
    type = KINDS.get(kind)
    if type is None:
        return JsonResponse([], safe=False)
    p = request.GET
    sort = p.get("sort")
    if sort not in SORTS:
        raise Invalid(f"Unknown sort '{sort}'.", code="invalid")
    tags = tuple(t for t in p.getlist("filter") if t)
    query = selectors.SearchQuery(
        type=type, q=p.get("search", ""), owner=p.get("author", ""), task=p.get("pipeline_tag", ""),
        tags=tags, sort=SORTS[sort], descending=p.get("direction") not in ("1", "asc"),
    )  # fmt: skip
    try:
        limit = max(1, min(int(p.get("limit") or 1000), 1000))
        page = max(1, int(p.get("p") or 1))
    except ValueError:
        raise Invalid("limit and p must be integers.", code="invalid") from None
    repos = list(selectors.search_repos(request.user, query)[(page - 1) * limit : page * limit + 1])
    has_next = len(repos) > limit
    repos = repos[:limit]
    full = p.get("full") in ("true", "True", "1")
    card = p.get("cardData") in ("true", "True", "1")
    items = []
    for repo in repos:
        item = _repo_summary(repo)
        if full:
            item["sha"] = repo.head_sha
            commit = Commit.objects.filter(sha=repo.head_sha).first()
            item["siblings"] = (
                [{"rfilename": path} for path in selectors.snapshot(commit).paths] if commit is not None else []
            )
        if card or full:
            item["cardData"] = repo.card_data or {}
        items.append(item)
    response = JsonResponse(items, safe=False)
    if has_next:
        response["Link"] = f'<{page_link(request, p=page + 1, limit=limit)}>; rel="next"'
    return response


def _tree_item(repo: Repo, entry: trees.Entry, xet: dict[str, str]) -> dict:
    if entry.type == "directory":
        return {"type": "directory", "oid": _dir_oid(entry.path), "path": entry.path}
    item = {"type": "file", "oid": entry.git_sha1, "size": entry.size, "path": entry.path}
    if is_lfs(entry.size):
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": POINTER_SIZE}
    if entry.sha256 in xet:
        item["xetHash"] = xet[entry.sha256]
    return item


def _add_security(item: dict, path: str, scan) -> None:
    """`securityFileStatus` of a pickle-based file, as the public hub sends it with expand=true."""
    if scan is not None and is_pickle_path(path):
        item["securityFileStatus"] = hf_security_status(scan)


def _dir_oid(path: str) -> str:
    import hashlib

    return hashlib.sha1(f"tree {path}".encode()).hexdigest()


def _last_commit(repo: Repo, head: Commit, path: str) -> dict | None:
    found = selectors.history(repo, head, path=path, limit=1)
    if not found:
        return None
    return {"id": found[0].sha, "title": found[0].title, "date": iso(found[0].created_at)}


@hf_view(("GET",))
def tree(request: HttpRequest, kind: str, owner: str, name: str, rest: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    revision, folder = split_revision(repo, rest)
    commit = resolve(repo, revision)
    folder = validate_folder(folder)
    recursive = request.GET.get("recursive") in ("true", "True", "1")
    expand = request.GET.get("expand") in ("true", "True", "1")
    snap = selectors.snapshot(commit)
    if folder and not snap.is_folder(folder):
        raise NotFound(f"Folder '{folder}' not found at {commit.sha}.", code="entry_not_found", commit=commit.sha)
    entries = trees.list_folder(snap, folder, recursive=recursive)
    cursor = request.GET.get("cursor", "")
    if cursor:
        entries = [e for e in entries if e.path > cursor]
    size = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    page, more = entries[:size], len(entries) > size
    xet = xet_hashes_for([e.sha256 for e in page if e.type == "file" and is_lfs(e.size)])
    scans = scans_for((e.path, e.sha256) for e in page if e.type == "file") if expand else {}
    items = []
    for entry in page:
        item = _tree_item(repo, entry, xet)
        if expand:
            item["lastCommit"] = _last_commit(repo, commit, entry.path)
            _add_security(item, entry.path, scans.get(entry.sha256))
        items.append(item)
    response = JsonResponse(items, safe=False)
    if more:
        response["Link"] = f'<{page_link(request, cursor=page[-1].path)}>; rel="next"'
    return response


@hf_view(("POST",))
def paths_info(request: HttpRequest, kind: str, owner: str, name: str, revision: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    commit = resolve(repo, revision)
    paths = request.POST.getlist("paths")
    if not paths and request.content_type == "application/json":
        body = read_json(request, default={})
        paths = body.get("paths", []) if isinstance(body, dict) else []
    expand = request.POST.get("expand") in ("true", "True", "1")
    snap = selectors.snapshot(commit)
    wanted = [p.strip("/") for p in paths if isinstance(p, str)]
    xet = xet_hashes_for([snap.files[p].sha256 for p in wanted if p in snap.files])
    scans = scans_for((p, snap.files[p].sha256) for p in wanted if p in snap.files) if expand else {}
    items = []
    for path in wanted:
        if path in snap.files:
            ref = snap.files[path]
            item = _tree_item(repo, trees.Entry("file", path, ref.size, ref.sha256, ref.git_sha1), xet)
        elif path and snap.is_folder(path):
            item = _tree_item(repo, trees.Entry("directory", path), xet)
        else:
            continue
        if expand:
            item["lastCommit"] = _last_commit(repo, commit, path)
            if item["type"] == "file":
                _add_security(item, path, scans.get(snap.files[path].sha256))
        items.append(item)
    return JsonResponse(items, safe=False)


@hf_view(("GET",))
def refs(request: HttpRequest, kind: str, owner: str, name: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    body: dict = {"branches": [], "tags": [], "converts": []}
    for ref in selectors.refs(repo):
        group, prefix = ("branches", "refs/heads/") if ref.kind == Ref.BRANCH else ("tags", "refs/tags/")
        body[group].append({"name": ref.name, "ref": prefix + ref.name, "targetCommit": ref.commit.sha})
    if request.GET.get("include_prs"):
        body["pullRequests"] = []
    return JsonResponse(body)


@hf_view(("GET",))
def commits(request: HttpRequest, kind: str, owner: str, name: str, revision: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    head = resolve(repo, revision)
    try:
        page = max(1, int(request.GET.get("p") or 1))
        limit = max(1, min(int(request.GET.get("limit") or 50), 1000))
    except ValueError:
        raise Invalid("p and limit must be integers.", code="invalid") from None
    found = selectors.history(repo, head, offset=(page - 1) * limit, limit=limit + 1)
    formatted = "formatted" in request.GET.getlist("expand[]") + request.GET.getlist("expand")
    items = []
    for commit in found[:limit]:
        item = {
            "id": commit.sha,
            "title": commit.title,
            "message": commit.message,
            "date": iso(commit.created_at),
            "authors": [{"user": commit.author_name}],
            "parents": commit.parent_shas,
        }
        if formatted:
            item["formatted"] = {"title": commit.title, "message": commit.message}
        items.append(item)
    response = JsonResponse(items, safe=False)
    if len(found) > limit:
        response["Link"] = f'<{page_link(request, p=page + 1, limit=limit)}>; rel="next"'
    return response


@hf_view(("POST", "DELETE"))
def branch(request: HttpRequest, kind: str, owner: str, name: str, branch: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name, need=Role.WRITE)
    if request.method == "DELETE":
        commit_services.delete_branch(repo=repo, name=branch)
        return JsonResponse({})
    body = read_json(request, default={})
    starting_point = body.get("startingPoint") if isinstance(body, dict) else None
    try:
        commit_services.create_branch(repo=repo, name=branch, revision=starting_point or "main")
    except Conflict:
        return JsonResponse({"error": f"Reference already exists: refs/heads/{branch}"}, status=409)
    return JsonResponse({})


@hf_view(("POST", "DELETE"))
def tag(request: HttpRequest, kind: str, owner: str, name: str, ref: str) -> JsonResponse:
    """POST …/tag/{revision} {"tag": name} creates; DELETE …/tag/{tag} deletes."""
    repo = find_repo(request, kind, owner, name, need=Role.WRITE)
    if request.method == "DELETE":
        commit_services.delete_tag(repo=repo, name=ref)
        return JsonResponse({})
    body = read_json(request, default={})
    tag_name = body.get("tag") if isinstance(body, dict) else None
    if not isinstance(tag_name, str):
        raise Invalid("'tag' is required.", code="invalid")
    try:
        commit_services.create_tag(repo=repo, name=tag_name, revision=ref)
    except Conflict:
        return JsonResponse({"error": f"Tag {tag_name} already exists"}, status=409)
    return JsonResponse({})


@hf_view(("GET", "POST"))
def discussions(request: HttpRequest, kind: str, owner: str, name: str) -> JsonResponse:
    find_repo(request, kind, owner, name)
    if request.method == "POST":
        raise Invalid("Discussions and pull requests are not supported by this hub yet.", code="invalid")
    return JsonResponse({"discussions": [], "count": 0, "start": 0, "numClosedDiscussions": 0})
