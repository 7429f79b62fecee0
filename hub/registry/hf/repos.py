"""HF protocol: identity and repo management (whoami, create, delete, move, settings, validate-yaml)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from hub.accounts.models import ApiToken, Role
from hub.accounts.selectors import get_namespace, has_role, namespace_role, user_organisations
from hub.core.auth import token_role
from hub.core.errors import Forbidden, Invalid, Unauthenticated
from hub.registry import selectors
from hub.registry.cards import parse_card
from hub.registry.hf.common import hf_view, iso, read_json, repo_url
from hub.registry.models import Repo, RepoType
from hub.registry.services import repos as repo_services

TYPES = {None: RepoType.MODEL, "model": RepoType.MODEL, "dataset": RepoType.DATASET}


@hf_view(("GET",))
def agent_harnesses(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"standardEnvVars": [], "harnesses": {}})


@hf_view(("GET",))
def whoami(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        raise Unauthenticated("Invalid credentials in Authorization header")
    user = request.user
    token: ApiToken | None = getattr(request, "api_token", None)
    body = {
        "type": "user",
        "id": str(user.pk),
        "name": user.username,
        "fullname": user.get_full_name() or user.username,
        "email": user.email or None,
        "emailVerified": bool(user.email),
        "isPro": False,
        "orgs": [
            {
                "type": "org",
                "id": str(org.pk),
                "name": org.name,
                "fullname": org.display_name or org.name,
                "roleInOrg": role,
            }
            for org, role in user_organisations(user)
        ],  # fmt: skip
    }
    if token is not None:
        body["auth"] = {
            "type": "access_token",
            "accessToken": {"displayName": token.name, "role": token.role, "createdAt": iso(token.created_at)},
        }
    return JsonResponse(body)


def _repo_type(value: object) -> str:
    if value not in TYPES:
        raise Invalid(f"Repo type '{value}' is not supported here (models and datasets are).", code="invalid_type")
    return TYPES[value]


def _require_writer(request: HttpRequest) -> None:
    if not request.user.is_authenticated:
        raise Unauthenticated("You must be authenticated to do this.")
    if token_role(request) != "write":
        raise Forbidden("This token is read-only; use a write token to make changes.")


@hf_view(("POST",))
def create_repo(request: HttpRequest) -> JsonResponse:
    _require_writer(request)
    body = read_json(request, default={})
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid("'name' is required.", code="invalid")
    type = _repo_type(body.get("type"))
    organization = body.get("organization")
    if organization is not None and not isinstance(organization, str):
        raise Invalid("'organization' must be a string.", code="invalid")
    namespace = get_namespace(organization or request.user.username)
    if not has_role(namespace_role(request.user, namespace), Role.WRITE):
        raise Forbidden(f"You don't have the rights to create a repo under '{namespace.name}'.")
    private = body.get("private")
    if "visibility" in body:
        if body["visibility"] not in ("public", "private"):
            raise Invalid("visibility must be 'public' or 'private'.", code="invalid")
        private = body["visibility"] == "private"
    full_name = f"{namespace.name}/{body['name']}"
    existing = Repo.objects.filter(type=type, full_name__iexact=full_name).first()
    if existing is not None:
        if not selectors.can_read(request.user, existing):
            raise Forbidden("You cannot create this repo.")
        return JsonResponse({"error": "You already created this repo", "url": repo_url(request, existing)}, status=409)
    repo = repo_services.create_repo(
        namespace=namespace, name=body["name"], type=type, private=bool(private), author=request.user
    )
    return JsonResponse({"url": repo_url(request, repo), "name": repo.full_name, "id": str(repo.pk)})


def _repo_from_body(request: HttpRequest, body: object, need: str) -> Repo:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid("'name' is required.", code="invalid")
    type = _repo_type(body.get("type"))
    owner = body.get("organization") or (request.user.username if request.user.is_authenticated else "")
    return selectors.get_repo(
        user=request.user, type=type, full_name=f"{owner}/{body['name']}", need=need,
        token_role=token_role(request), follow_redirects=False,
    )  # fmt: skip


@hf_view(("DELETE",))
def delete_repo(request: HttpRequest) -> JsonResponse:
    _require_writer(request)
    repo = _repo_from_body(request, read_json(request, default={}), Role.ADMIN)
    repo_services.delete_repo(repo=repo)
    return JsonResponse({})


@hf_view(("POST",))
def move_repo(request: HttpRequest) -> JsonResponse:
    _require_writer(request)
    body = read_json(request, default={})
    if not isinstance(body, dict) or "/" not in str(body.get("fromRepo", "")) or "/" not in str(body.get("toRepo", "")):
        raise Invalid("'fromRepo' and 'toRepo' must be 'namespace/name'.", code="invalid")
    type = _repo_type(body.get("type"))
    repo = selectors.get_repo(
        user=request.user, type=type, full_name=body["fromRepo"], need=Role.ADMIN, token_role=token_role(request),
        follow_redirects=False,
    )  # fmt: skip
    owner, _, name = body["toRepo"].partition("/")
    namespace = get_namespace(owner)
    if not has_role(namespace_role(request.user, namespace), Role.WRITE):
        raise Forbidden(f"You don't have the rights to create a repo under '{namespace.name}'.")
    repo_services.move_repo(repo=repo, namespace=namespace, name=name)
    return JsonResponse({"url": repo_url(request, repo)})


@hf_view(("PUT",))
def repo_settings(request: HttpRequest, kind: str, owner: str, name: str) -> JsonResponse:
    from hub.registry.hf.common import find_repo

    repo = find_repo(request, kind, owner, name, need=Role.ADMIN)
    body = read_json(request, default={})
    if not isinstance(body, dict):
        raise Invalid("Expected a JSON object.", code="invalid")
    private = body.get("private")
    if "visibility" in body:
        if body["visibility"] not in ("public", "private"):
            raise Invalid("visibility must be 'public' or 'private'.", code="invalid")
        private = body["visibility"] == "private"
    if body.get("gated") not in (None, False):
        raise Invalid("Gated repos are not supported by this hub.", code="invalid")
    if private is not None:
        repo_services.set_private(repo=repo, private=bool(private))
    return JsonResponse({"private": repo.private})


@hf_view(("POST",))
def validate_yaml(request: HttpRequest) -> JsonResponse:
    """Always JSON: the client reads the body before it looks at the status."""
    try:
        body = read_json(request, default={})
    except Invalid as exc:
        return JsonResponse({"errors": [{"message": exc.message}], "warnings": []}, status=400)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return JsonResponse({"errors": [{"message": "'content' must be a string."}], "warnings": []}, status=400)
    card = parse_card(content.encode("utf-8", "replace"))
    if card.error:
        return JsonResponse({"errors": [{"message": card.error}], "warnings": []}, status=400)
    return JsonResponse({"errors": [], "warnings": []})
