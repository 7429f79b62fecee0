"""Reads over endpoints: access-checked lookup, which endpoint serves a `model` name, usage aggregates."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from hub.accounts.models import User
from hub.accounts.selectors import namespace_role, readable_namespace_ids
from hub.core.errors import NotFound
from hub.core.stamp import MAX_ENTRIES, LookupCache
from hub.endpoints import metering
from hub.endpoints.models import GENERATIVE_TASKS, Endpoint, State, Task, UsageRecord
from hub.registry.models import RepoType
from hub.registry.selectors import can_read

# Which endpoint tasks can answer a request of each kind.
COMPATIBLE = {
    "chat": GENERATIVE_TASKS,
    "text-generation": GENERATIVE_TASKS,
    "feature-extraction": frozenset({Task.FEATURE_EXTRACTION}),
    "text-classification": frozenset({Task.TEXT_CLASSIFICATION}),
    "fill-mask": frozenset({Task.FILL_MASK}),
    "token-classification": frozenset({Task.TOKEN_CLASSIFICATION}),
}

# Successful lookups per (caller, arguments), valid under the access stamp (hub.core.stamp); NotFound is not cached.
_LOOKUPS = LookupCache()
# endpoint pk → when this process last recorded a request (note_answer); cached rows do not see that write.
_LAST_REQUEST: dict[int, datetime] = {}


def endpoint_not_found(name: str) -> NotFound:
    return NotFound(f"Endpoint {name} not found.", code="endpoint_not_found")


def can_use(user: User | AnonymousUser, endpoint: Endpoint) -> bool:
    """Calling an endpoint is a read of its model; a private endpoint also needs a role in its namespace."""
    if not can_read(user, endpoint.repo):
        return False
    return not endpoint.private or namespace_role(user, endpoint.namespace) is not None


def visible_endpoints(user: User | AnonymousUser) -> QuerySet[Endpoint]:
    qs = Endpoint.objects.select_related("namespace", "repo", "repo__namespace")
    ids = readable_namespace_ids(user)
    if ids is None:
        return qs
    return qs.filter(Q(repo__private=False) | Q(repo__namespace_id__in=ids)).filter(
        Q(private=False) | Q(namespace_id__in=ids)
    )


def get_endpoint(user: User | AnonymousUser, namespace: str, name: str) -> Endpoint:
    """The endpoint if `user` may use it; NotFound otherwise (never revealing that a private one exists)."""
    full = f"{namespace}/{name}"
    if "\x00" in full:
        raise endpoint_not_found(full)

    def load() -> Endpoint:
        endpoint = (
            Endpoint.objects.select_related("namespace", "repo", "repo__namespace")
            .filter(namespace__name__iexact=namespace, name__iexact=name)
            .first()
        )
        if endpoint is None or not can_use(user, endpoint):
            raise endpoint_not_found(full)
        return endpoint

    return _own_copy(_LOOKUPS.get_or_load(("endpoint", _caller(user), _fold(namespace), _fold(name)), load))


def endpoint_for_model(user: User | AnonymousUser, model: str, kind: str) -> Endpoint:
    """What serves `model` for a request of `kind`: an endpoint named `model` (owner/name), else the best endpoint
    of the repo `model` that the caller may use (one that can answer `kind`, in the caller's own namespace first,
    awake first, newest first). A readable repo with no endpoint is a 404 that says how to create one."""
    if not isinstance(model, str) or not model or "\x00" in model or len(model) > 300:
        raise NotFound("The model field must name an endpoint or a model repo.", code="model_not_found")
    key = ("model", _caller(user), _fold(model), kind)
    return _own_copy(_LOOKUPS.get_or_load(key, lambda: _endpoint_for_model(user, model, kind)))


def _endpoint_for_model(user: User | AnonymousUser, model: str, kind: str) -> Endpoint:
    tasks = COMPATIBLE.get(kind, frozenset(Task.values))
    owner, _, name = model.partition("/")
    if name:
        named = visible_endpoints(user).filter(namespace__name__iexact=owner, name__iexact=name).first()
        if named is not None and can_use(user, named):
            if named.task not in tasks:
                raise NotFound(f"Endpoint {named.full_name} serves {named.task}, not {kind}.", code="model_not_found")
            return named
    candidates = [
        e
        for e in visible_endpoints(user)
        .filter(repo__type=RepoType.MODEL, repo__full_name__iexact=model, task__in=tasks)
        .exclude(state=State.FAILED)
        if can_use(user, e)
    ]
    if not candidates:
        readable = visible_endpoints(user).filter(repo__full_name__iexact=model).exists() or _readable_repo(user, model)
        if readable:
            raise NotFound(
                f"No endpoint serves {model} for {kind}. Create one at /endpoints/new?model={model}.",
                code="model_not_found",
            )
        raise NotFound(f"The model '{model}' does not exist or you do not have access to it.", code="model_not_found")
    own = set(readable_namespace_ids(user) or [])

    def rank(e: Endpoint) -> tuple:
        return (e.namespace_id not in own, e.state == State.PAUSED, e.state != State.RUNNING, -e.created_at.timestamp())

    return min(candidates, key=rank)


def _caller(user: User | AnonymousUser) -> int | None:
    return user.pk if user.is_authenticated else None


def _fold(text: str) -> str:
    # The database matches names with iexact; fold only ASCII, where lower() and the database surely agree.
    return text.lower() if text.isascii() else text


def _own_copy(endpoint: Endpoint) -> Endpoint:
    """A copy of a cached endpoint (and its loaded namespace and repo) that the caller may change freely
    (ensure_awake refreshes it, note_answer and transition set fields on it)."""
    own = copy.copy(endpoint)
    own.namespace = copy.copy(endpoint.namespace)
    repo = copy.copy(endpoint.repo)
    repo.namespace = copy.copy(endpoint.repo.namespace)
    own.repo = repo
    seen = _LAST_REQUEST.get(endpoint.pk)
    if seen is not None and (own.last_request_at is None or seen > own.last_request_at):
        own.last_request_at = seen
    return own


def remember_last_request(endpoint: Endpoint) -> None:
    """note_answer recorded a request: later copies of this endpoint from the cache show it (so it writes again
    only after its resolution, not on every request while the cached row is older)."""
    if len(_LAST_REQUEST) >= MAX_ENTRIES:
        _LAST_REQUEST.clear()
    _LAST_REQUEST[endpoint.pk] = endpoint.last_request_at


def _readable_repo(user: User | AnonymousUser, full_name: str) -> bool:
    from hub.registry.models import Repo

    repo = Repo.objects.select_related("namespace").filter(type=RepoType.MODEL, full_name__iexact=full_name).first()
    return repo is not None and can_read(user, repo)


def manageable_endpoints(user: User) -> QuerySet[Endpoint]:
    ids = readable_namespace_ids(user)
    qs = Endpoint.objects.select_related("namespace", "repo").order_by("-created_at")
    return qs if ids is None else qs.filter(namespace_id__in=ids)


# --- usage ---------------------------------------------------------------------------------------------------


def usage_summary(records: QuerySet[UsageRecord]) -> dict:
    row = records.aggregate(
        requests=Count("id"),
        errors=Count("id", filter=~Q(status=UsageRecord.OK)),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        compute_ms=Sum("compute_ms"),
        mean_latency_ms=Avg("latency_ms"),
    )
    return {key: (value or 0) for key, value in row.items()}


def usage(endpoint: Endpoint, *, user: User | None = None, days: int = 7) -> dict:
    """Totals, per-token totals and an hourly series over the last `days`; only `user`'s own rows when given."""
    metering.flush()  # this process's pending records; other processes' land within HUB_USAGE_FLUSH_MS
    since = timezone.now() - timedelta(days=days)
    records = UsageRecord.objects.filter(endpoint=endpoint, created_at__gte=since)
    if user is not None:
        records = records.filter(user=user)
    per_token = []
    for row in (
        records.values("token_id", "token__name", "token__prefix", "user__username")
        .annotate(
            requests=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            compute_ms=Sum("compute_ms"),
        )
        .order_by("-requests")[:50]
    ):
        per_token.append(
            {
                "token": row["token__name"] or ("session" if row["token_id"] is None else ""),
                "token_prefix": row["token__prefix"] or "",
                "user": row["user__username"],
                "requests": row["requests"],
                "input_tokens": row["input_tokens"] or 0,
                "output_tokens": row["output_tokens"] or 0,
                "compute_ms": round(row["compute_ms"] or 0, 1),
            }
        )
    recent = list(
        records.order_by("-created_at").values(
            "created_at", "route", "status", "input_tokens", "output_tokens", "compute_ms", "latency_ms", "stream"
        )[:20]
    )
    return {"days": days, "totals": usage_summary(records), "per_token": per_token, "recent": recent}
