"""Native REST API for endpoints (/api/v1/endpoints…): thin views over services and selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.accounts.selectors import get_namespace
from hub.core.auth import token_role
from hub.core.errors import Invalid
from hub.core.permissions import IsAuthenticated
from hub.endpoints import selectors, services
from hub.endpoints.models import Endpoint
from hub.registry.models import RepoType
from hub.registry.selectors import get_repo


def endpoint_url(request, endpoint: Endpoint) -> str:
    return request.build_absolute_uri(f"/endpoints/{endpoint.full_name}")


def serialize(request, endpoint: Endpoint, *, detail: bool = False) -> dict:
    body = {
        "name": endpoint.full_name,
        "namespace": endpoint.namespace.name,
        "model": endpoint.repo.full_name,
        "revision": endpoint.revision,
        "commit": endpoint.commit_sha,
        "pending_commit": endpoint.pending_commit_sha or None,
        "task": endpoint.task,
        "hardware": endpoint.hardware,
        "min_replicas": endpoint.min_replicas,
        "max_replicas": endpoint.max_replicas,
        "replicas": endpoint.replicas if endpoint.state in services.AWAKE else 0,
        "idle_timeout_s": endpoint.idle_timeout_s,
        "max_batch_size": endpoint.max_batch_size,
        "max_wait_ms": endpoint.max_wait_ms,
        "private": endpoint.private,
        "state": endpoint.state,
        "last_error": endpoint.last_error or None,
        "cold_start_ms": endpoint.cold_start_ms,
        "url": endpoint_url(request, endpoint),
        "openai_base_url": request.build_absolute_uri("/v1"),
        "queue": endpoint.celery_queue,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "last_request_at": endpoint.last_request_at,
    }
    if detail:
        mine = None if services.can_manage(request.user, endpoint.namespace) else request.user
        body["traffic"] = selectors.usage(endpoint, user=mine, days=1)["totals"]
        body["events"] = [
            {"kind": e.kind, "message": e.message, "data": e.data, "created_at": e.created_at}
            for e in endpoint.events.order_by("-id")[:20]
        ]
    return body


class EndpointListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="List the endpoints of your namespaces", responses={200: dict})
    def get(self, request: Request):
        endpoints = selectors.manageable_endpoints(request.user)
        namespace = request.query_params.get("namespace")
        if namespace:
            endpoints = endpoints.filter(namespace__name__iexact=namespace)
        return Response({"results": [serialize(request, e) for e in endpoints[:200]]})

    @extend_schema(summary="Create an endpoint", request=dict, responses={201: dict})
    def post(self, request: Request):
        data = request.data if isinstance(request.data, dict) else {}
        model = data.get("model")
        if not isinstance(model, str) or "/" not in model:
            raise Invalid("'model' must be a model repo id (owner/name).", code="invalid_model")
        repo = get_repo(user=request.user, type=RepoType.MODEL, full_name=model)
        namespace_name = data.get("namespace") or repo.namespace.name
        if not isinstance(namespace_name, str):
            raise Invalid("'namespace' must be a string.", code="invalid_field")
        name = data.get("name") or repo.name
        options = {
            key: data[key]
            for key in (
                "revision",
                "hardware",
                "min_replicas",
                "max_replicas",
                "idle_timeout_s",
                "max_batch_size",
                "max_wait_ms",
            )  # fmt: skip
            if data.get(key) is not None
        }
        task = data.get("task") or _default_task(repo)
        endpoint = services.create_endpoint(
            user=request.user, namespace=get_namespace(namespace_name), name=name, repo=repo, task=task,
            private=bool(data.get("private", False)), token_role=token_role(request), **options,
        )  # fmt: skip
        return Response(serialize(request, endpoint, detail=True), status=201)


def _default_task(repo) -> str:
    tag = repo.pipeline_tag
    if tag in ("sentence-similarity", "feature-extraction"):
        return "feature-extraction"
    if tag == "text-generation":
        return "chat" if "conversational" in (repo.tags or []) else "text-generation"
    if tag in ("text-classification", "fill-mask", "token-classification"):
        return tag
    raise Invalid("'task' is required (the model card names no pipeline this hub can serve).", code="missing_task")


class EndpointDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def _get(self, request, owner: str, name: str) -> Endpoint:
        return selectors.get_endpoint(request.user, owner, name)

    @extend_schema(summary="Get an endpoint: state, URL, replicas, last error, recent traffic and events")
    def get(self, request: Request, owner: str, name: str):
        return Response(serialize(request, self._get(request, owner, name), detail=True))

    @extend_schema(summary="Update an endpoint: revision (rolling), replicas, idle timeout", request=dict)
    def patch(self, request: Request, owner: str, name: str):
        endpoint = self._get(request, owner, name)
        data = request.data if isinstance(request.data, dict) else {}
        role = token_role(request)
        if data.get("revision") is not None:
            services.update_revision(endpoint=endpoint, user=request.user, revision=data["revision"], token_role=role)
        scale_fields = {k: data.get(k) for k in ("min_replicas", "max_replicas", "replicas", "idle_timeout_s")}
        if any(v is not None for v in scale_fields.values()):
            services.scale(endpoint=endpoint, user=request.user, token_role=role, **scale_fields)
        endpoint.refresh_from_db()
        return Response(serialize(request, endpoint, detail=True))

    @extend_schema(summary="Delete an endpoint")
    def delete(self, request: Request, owner: str, name: str):
        services.delete(endpoint=self._get(request, owner, name), user=request.user, token_role=token_role(request))
        return Response(status=204)


class EndpointActionView(APIView):
    """POST …/pause, …/resume, …/scale."""

    permission_classes = [IsAuthenticated]
    action = "pause"

    @extend_schema(summary="Pause, resume or scale an endpoint", request=dict)
    def post(self, request: Request, owner: str, name: str):
        endpoint = selectors.get_endpoint(request.user, owner, name)
        role = token_role(request)
        if self.action == "pause":
            services.pause(endpoint=endpoint, user=request.user, token_role=role)
        elif self.action == "resume":
            services.resume(endpoint=endpoint, user=request.user, token_role=role)
        else:
            data = request.data if isinstance(request.data, dict) else {}
            fields = {k: data.get(k) for k in ("min_replicas", "max_replicas", "replicas", "idle_timeout_s")}
            services.scale(endpoint=endpoint, user=request.user, token_role=role, **fields)
        endpoint.refresh_from_db()
        return Response(serialize(request, endpoint, detail=True))


class EndpointUsageView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Usage of an endpoint: totals, per token, recent requests (yours only unless you manage it)")
    def get(self, request: Request, owner: str, name: str):
        endpoint = selectors.get_endpoint(request.user, owner, name)
        try:
            days = min(max(int(request.query_params.get("days", 7)), 1), 90)
        except ValueError:
            raise Invalid("days must be an integer.", code="invalid") from None
        mine = None if services.can_manage(request.user, endpoint.namespace) else request.user
        return Response({"endpoint": endpoint.full_name, **selectors.usage(endpoint, user=mine, days=days)})


class EndpointEventsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Events of an endpoint, newest first")
    def get(self, request: Request, owner: str, name: str):
        endpoint = selectors.get_endpoint(request.user, owner, name)
        events = endpoint.events.order_by("-id")[:100]
        return Response(
            {
                "results": [
                    {"kind": e.kind, "message": e.message, "data": e.data, "created_at": e.created_at} for e in events
                ]
            }  # fmt: skip
        )
