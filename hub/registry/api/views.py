"""Native REST API of the registry. Thin: parse input, call selectors and services, render output."""

from __future__ import annotations

import base64
import binascii
import mimetypes

from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.accounts.models import Role
from hub.accounts.selectors import get_namespace, has_role, namespace_role
from hub.core.auth import token_role
from hub.core.errors import Forbidden, Invalid
from hub.core.http import file_response, int_param, page_link
from hub.core.permissions import IsAuthenticated
from hub.registry import selectors, storage
from hub.registry.api import serializers as s
from hub.registry.models import Repo, RepoType
from hub.registry.paths import validate_folder, validate_path
from hub.registry.services import commits as commit_services
from hub.registry.services import repos as repo_services
from hub.security.pickles import is_pickle_path
from hub.security.services import api_security, scans_for

KINDS = {"models": RepoType.MODEL, "datasets": RepoType.DATASET}
MAX_PAGE = 100


_int = int_param  # one parser for every API module (hub.core.http)


def _bool(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _paginated(request, items: list, total: int | None, page: int, limit: int, serializer) -> Response:
    has_next = (page * limit < total) if total is not None else len(items) == limit
    body = {"count": total, "page": page, "limit": limit, "results": serializer(items, many=True).data}
    body["next"] = page_link(request, page=page + 1, limit=limit) if has_next else None
    response = Response(body)
    if has_next:
        response["Link"] = f'<{body["next"]}>; rel="next"'
    return response


class RepoSearchView(APIView):
    """GET /api/v1/models and /api/v1/datasets: search, filter, sort, paginate."""

    kind = RepoType.MODEL

    @extend_schema(
        summary="Search repos",
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("q", "owner", "task", "library", "license", "base_model", "tags", "sort", "direction")
        ]
        + [OpenApiParameter("page", int, required=False), OpenApiParameter("limit", int, required=False)],
        responses=s.RepoSerializer(many=True),
    )
    def get(self, request):
        p = request.query_params
        tags = [t for value in p.getlist("tags") + p.getlist("tag") for t in value.split(",") if t]
        query = selectors.SearchQuery(
            type=self.kind,
            q=p.get("q", "") or p.get("search", ""),
            owner=p.get("owner", "") or p.get("author", ""),
            task=p.get("task", ""),
            library=p.get("library", ""),
            license=p.get("license", ""),
            base_model=p.get("base_model", ""),
            tags=tuple(tags),
            sort=p.get("sort", "trending"),
            descending=p.get("direction", "desc") not in ("asc", "1"),
        )
        page = _int(p.get("page"), 1, name="page", low=1, high=100_000)
        limit = _int(p.get("limit"), 20, name="limit", low=1, high=MAX_PAGE)
        qs = selectors.search_repos(request.user, query)
        total = qs.count()
        items = list(qs[(page - 1) * limit : page * limit])
        return _paginated(request, items, total, page, limit, s.RepoSerializer)


class RepoCreateView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.RepoCreateSerializer, responses={201: s.RepoSerializer}, summary="Create a repo")
    def post(self, request):
        data = _valid(s.RepoCreateSerializer, request.data)
        namespace = get_namespace(data.get("owner") or request.user.username)
        if not has_role(namespace_role(request.user, namespace), Role.WRITE):
            raise Forbidden(f"You cannot create repos in '{namespace.name}'.")
        repo = repo_services.create_repo(
            namespace=namespace, name=data["name"], type=data["type"], private=data["private"], author=request.user
        )
        return Response(s.RepoSerializer(repo).data, status=201)


class RepoView(APIView):
    """Base for /api/v1/{models|datasets}/{owner}/{name}/…: finds the repo with the role the method needs."""

    write_role = Role.WRITE

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        need = Role.READ if request.method in SAFE_METHODS else self.write_role
        self.repo = selectors.get_repo(
            user=request.user,
            type=KINDS[kwargs["kind"]],
            full_name=f"{kwargs['owner']}/{kwargs['name']}",
            need=need,
            token_role=token_role(request),
        )

    def handle_exception(self, exc):
        if isinstance(exc, selectors.RepoMoved):
            kwargs = self.kwargs
            old = f"/{kwargs['kind']}/{kwargs['owner']}/{kwargs['name']}"
            new = f"/{kwargs['kind']}/{exc.repo.full_name}"
            url = self.request.get_full_path().replace(old, new, 1)
            return HttpResponseRedirect(url, status=307)
        return super().handle_exception(exc)


class RepoDetailView(RepoView):
    write_role = Role.ADMIN

    @extend_schema(responses=s.RepoSerializer, summary="Get a repo")
    def get(self, request, **kwargs):
        return Response(s.RepoSerializer(self.repo).data)

    @extend_schema(request=s.RepoUpdateSerializer, responses=s.RepoSerializer, summary="Change visibility")
    def patch(self, request, **kwargs):
        data = _valid(s.RepoUpdateSerializer, request.data)
        repo = repo_services.set_private(repo=self.repo, private=data["private"])
        return Response(s.RepoSerializer(repo).data)

    @extend_schema(responses={204: None}, summary="Delete a repo")
    def delete(self, request, **kwargs):
        repo_services.delete_repo(repo=self.repo)
        return Response(status=204)


class RepoMoveView(RepoView):
    write_role = Role.ADMIN

    @extend_schema(request=s.RepoMoveSerializer, responses=s.RepoSerializer, summary="Rename or move a repo")
    def post(self, request, **kwargs):
        data = _valid(s.RepoMoveSerializer, request.data)
        owner, _, name = data["to"].partition("/")
        if not owner or not name or "/" in name:
            raise Invalid("'to' must be 'owner/name'.", code="invalid_name")
        namespace = get_namespace(owner)
        if not has_role(namespace_role(request.user, namespace), Role.WRITE):
            raise Forbidden(f"You cannot create repos in '{namespace.name}'.")
        repo = repo_services.move_repo(repo=self.repo, namespace=namespace, name=name)
        return Response(s.RepoSerializer(repo).data)


class RefListView(RepoView):
    @extend_schema(responses=s.RefSerializer(many=True), summary="Branches and tags")
    def get(self, request, **kwargs):
        return Response(s.RefSerializer(selectors.refs(self.repo), many=True).data)


class BranchCreateView(RepoView):
    @extend_schema(request=s.RefCreateSerializer, responses={201: s.RefSerializer}, summary="Create a branch")
    def post(self, request, **kwargs):
        data = _valid(s.RefCreateSerializer, request.data)
        ref = commit_services.create_branch(repo=self.repo, name=data["name"], revision=data["revision"])
        return Response(s.RefSerializer(ref).data, status=201)


class BranchDetailView(RepoView):
    @extend_schema(responses={204: None}, summary="Delete a branch")
    def delete(self, request, ref: str, **kwargs):
        commit_services.delete_branch(repo=self.repo, name=ref)
        return Response(status=204)


class TagCreateView(RepoView):
    @extend_schema(request=s.RefCreateSerializer, responses={201: s.RefSerializer}, summary="Create a tag")
    def post(self, request, **kwargs):
        data = _valid(s.RefCreateSerializer, request.data)
        ref = commit_services.create_tag(repo=self.repo, name=data["name"], revision=data["revision"])
        return Response(s.RefSerializer(ref).data, status=201)


class TagDetailView(RepoView):
    @extend_schema(responses={204: None}, summary="Delete a tag")
    def delete(self, request, ref: str, **kwargs):
        commit_services.delete_tag(repo=self.repo, name=ref)
        return Response(status=204)


def _operation(repo: Repo, request, data: dict) -> commit_services.Operation:
    op, path = data["op"], data["path"]
    if op == "add":
        given = [k for k in ("content_base64", "content", "blob") if k in data]
        if len(given) != 1:
            raise Invalid(
                f"add '{path}': give exactly one of content_base64, content or blob.", code="invalid_operation"
            )
        if "blob" in data:
            return commit_services.AddFile(path=path, blob_sha256=data["blob"])
        if "content" in data:
            return commit_services.AddFile(path=path, content=data["content"].encode())
        try:
            content = base64.b64decode(data["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(f"add '{path}': content_base64 is not valid base64.", code="invalid_base64") from None
        return commit_services.AddFile(path=path, content=content)
    if op == "delete":
        return commit_services.DeleteFile(path=path)
    if op == "delete_folder":
        return commit_services.DeleteFolder(path=path)
    if "src_path" not in data:
        raise Invalid(f"copy to '{path}': src_path is required.", code="invalid_operation")
    src_repo = None
    if data.get("src_repo"):
        src_repo = selectors.get_repo(
            user=request.user, type=repo.type, full_name=data["src_repo"], follow_redirects=False
        )
    return commit_services.CopyFile(
        src_path=data["src_path"], path=path, src_revision=data.get("src_revision"), src_repo=src_repo
    )


class CommitListView(RepoView):
    @extend_schema(
        summary="History (newest first), optionally for one path",
        parameters=[
            OpenApiParameter("revision", str, required=False),
            OpenApiParameter("path", str, required=False),
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=s.CommitSerializer(many=True),
    )
    def get(self, request, **kwargs):
        p = request.query_params
        head = selectors.resolve_revision(self.repo, p.get("revision", "main"))
        path = validate_folder(p.get("path")) or None
        page = _int(p.get("page"), 1, name="page", low=1)
        limit = _int(p.get("limit"), 50, name="limit", low=1, high=MAX_PAGE)
        items = selectors.history(self.repo, head, path=path, offset=(page - 1) * limit, limit=limit)
        return _paginated(request, items, None, page, limit, s.CommitSerializer)

    @extend_schema(request=s.CommitCreateSerializer, responses={201: s.CommitSerializer}, summary="Create a commit")
    def post(self, request, **kwargs):
        data = _valid(s.CommitCreateSerializer, request.data)
        operations = [_operation(self.repo, request, op) for op in data["operations"]]
        commit = commit_services.create_commit(
            repo=self.repo,
            author=request.user,
            operations=operations,
            title=data["title"],
            message=data["message"],
            branch=data["branch"],
            parent_commit=data.get("parent_commit"),
        )
        return Response(s.CommitSerializer(commit).data, status=201)


class CommitDetailView(RepoView):
    @extend_schema(summary="One commit and the files it changed", responses=OpenApiTypes.OBJECT)
    def get(self, request, sha: str, **kwargs):
        commit = selectors.resolve_revision(self.repo, sha)
        changes = [{"path": c.path, "change": c.get_change_display()} for c in selectors.commit_changes(commit)]
        return Response(s.CommitSerializer(commit).data | {"changes": changes})


class TreeView(RepoView):
    @extend_schema(
        summary="List files and folders at a revision",
        parameters=[
            OpenApiParameter("revision", str, required=False),
            OpenApiParameter("path", str, required=False),
            OpenApiParameter("recursive", bool, required=False),
            OpenApiParameter("cursor", str, required=False, description="Last path of the previous page"),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=s.TreeEntrySerializer(many=True),
    )
    def get(self, request, **kwargs):
        p = request.query_params
        commit = selectors.resolve_revision(self.repo, p.get("revision", "main"))
        entries = selectors.list_tree(commit, validate_folder(p.get("path")), recursive=_bool(p.get("recursive")))
        limit = _int(p.get("limit"), 1000, name="limit", low=1, high=10_000)
        cursor = p.get("cursor") or ""
        if cursor:
            entries = [e for e in entries if e.path > cursor]
        page = entries[:limit]
        # Plain dicts: a serializer costs ~45 ms per 10,000 entries here (bench/registry.py).
        results = [{"type": e.type, "path": e.path, "size": e.size, "sha256": e.sha256} for e in page]
        scans = scans_for((e.path, e.sha256) for e in page if e.type == "file")
        for item in results:  # pickle-based files carry their import scan (hub.security)
            if item["sha256"] in scans and is_pickle_path(item["path"]):
                item["security"] = api_security(scans[item["sha256"]])
        body = {"commit": commit.sha, "results": results, "next": None}
        response = Response(body)
        if len(entries) > limit:
            body["next"] = page_link(request, cursor=page[-1].path, limit=limit)
            response["Link"] = f'<{body["next"]}>; rel="next"'
        return response


class FileView(RepoView):
    """Raw file content at a revision, with HTTP Range support (HEAD gives size and ids)."""

    @extend_schema(
        summary="Download a file",
        parameters=[OpenApiParameter("revision", str, required=False)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, path: str, **kwargs):
        path = validate_path(path)
        commit = selectors.resolve_revision(self.repo, request.query_params.get("revision", "main"))
        sha256, size, _ = selectors.get_file(commit, path)
        headers = {"ETag": f'"{sha256}"', "X-Repo-Commit": commit.sha, "X-Content-Sha256": sha256}
        if request.method == "GET" and not request.META.get("HTTP_RANGE") and path == _counting_file(commit):
            repo_services.record_download(repo=self.repo)
        url = storage.blob_url(sha256)
        if url is not None:
            response = HttpResponseRedirect(url)
            for k, v in headers.items():
                response[k] = v
            return response
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if content_type.startswith("text/") or path.endswith((".md", ".json", ".txt", ".yaml", ".yml")):
            content_type = (content_type if content_type.startswith("text/") else "text/plain") + "; charset=utf-8"
        return file_response(
            request, lambda: storage.open_blob(sha256), size, content_type=content_type,
            filename=path.rsplit("/", 1)[-1], headers=headers,
        )  # fmt: skip


def _counting_file(commit) -> str:
    """One download per snapshot, as the public hub counts: config.json if present, else README.md."""
    files = selectors.snapshot(commit).files
    return "config.json" if "config.json" in files else "README.md"


class CompareView(RepoView):
    @extend_schema(
        summary="Difference between two revisions",
        parameters=[
            OpenApiParameter("base", str, required=True),
            OpenApiParameter("head", str, required=False),
            OpenApiParameter("text", bool, required=False, description="Include text diffs of small files"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, **kwargs):
        p = request.query_params
        if not p.get("base"):
            raise Invalid("base is required.", code="invalid")
        base = selectors.resolve_revision(self.repo, p["base"])
        head = selectors.resolve_revision(self.repo, p.get("head", "main"))
        files = selectors.compare(base, head, with_text=p.get("text", "1") not in ("0", "false"))
        return Response(
            {
                "base": base.sha,
                "head": head.sha,
                "files": [
                    {"path": f.path, "status": f.status, "old_size": f.old_size, "new_size": f.new_size, "diff": f.diff}
                    for f in files
                ],
            }
        )


class LineageView(RepoView):
    @extend_schema(summary="Parents and children in the model tree", responses=OpenApiTypes.OBJECT)
    def get(self, request, **kwargs):
        def node(n: selectors.LineageNode) -> dict:
            return {"id": n.name, "relation": n.relation, "in_hub": n.repo is not None}

        return Response(
            {
                "id": self.repo.full_name,
                "parents": [node(n) for n in selectors.parents(request.user, self.repo)],
                "children": [node(n) for n in selectors.children(request.user, self.repo)],
                "children_counts": selectors.children_counts(request.user, self.repo),
            }
        )


class LikeView(RepoView):
    permission_classes = [IsAuthenticated]
    write_role = Role.READ  # liking needs only read access to the repo

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Like a repo")
    def post(self, request, **kwargs):
        return Response({"likes": repo_services.like(repo=self.repo, user=request.user), "liked": True})

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Remove your like")
    def delete(self, request, **kwargs):
        return Response({"likes": repo_services.unlike(repo=self.repo, user=request.user), "liked": False})


class BlobUploadView(APIView):
    """Stream a file into blob storage; commit it afterwards with {"op": "add", "blob": sha256}.

    The body is read in chunks (never held whole); `X-Content-Sha256`, when sent, must match.
    """

    permission_classes = [IsAuthenticated]
    parser_classes: list = []

    @extend_schema(
        summary="Upload a blob",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: s.BlobSerializer},
    )
    def post(self, request):
        raw = request._request
        length = raw.META.get("CONTENT_LENGTH")
        if not length:
            return Response({"error": "Content-Length is required.", "code": "length_required"}, status=411)
        size = _int(length, 0, name="Content-Length", high=2**62)  # store_stream answers 413 past the limit
        blob = storage.store_stream(
            storage.read_chunks(raw, size),
            expected_sha256=raw.META.get("HTTP_X_CONTENT_SHA256"),
            expected_size=size,
            uploader=request.user,
        )
        return Response({"sha256": blob.sha256, "size": blob.size}, status=201)

    put = post
