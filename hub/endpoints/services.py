"""Endpoint lifecycle: create, update revision (rolling), scale, pause, resume, delete, wake on demand, scale to
zero when idle, and metering. Every state change goes through `transition` (one conditional UPDATE against the
TRANSITIONS table) and leaves an event."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from hub.accounts.models import ApiToken, Namespace, Role, TokenRole, User
from hub.accounts.selectors import has_role, namespace_role
from hub.celery import app
from hub.core import stamp
from hub.core.errors import Conflict, Forbidden, HubError, Invalid
from hub.core.names import validate_name
from hub.endpoints import autoscale, metering, scaling, selectors
from hub.endpoints.models import TRANSITIONS, Endpoint, EndpointEvent, Hardware, State, Task, UsageRecord
from hub.registry.models import Repo, RepoType
from hub.registry.selectors import resolve_revision

log = logging.getLogger(__name__)
MAX_REPLICAS = 8
ROLL_TASK, ROLL_QUEUE = "workers.endpoints.roll", "cpu"
AWAKE = (State.INITIALIZING, State.RUNNING)
_wake_lock = threading.Lock()  # one wake-up at a time per process (ensure_awake)


class Unavailable(HubError):
    status = 503
    code = "unavailable"


# --- validation --------------------------------------------------------------------------------------------


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise Invalid(f"{name} must be an integer.", code="invalid_field")
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}.", code="invalid_field")
    return value


def _replicas(min_replicas: object, max_replicas: object) -> tuple[int, int]:
    low = _int(min_replicas, "min_replicas", 0, MAX_REPLICAS)
    high = _int(max_replicas, "max_replicas", 1, MAX_REPLICAS)
    if low > high:
        raise Invalid("min_replicas may not exceed max_replicas.", code="invalid_field")
    return low, high


def can_manage(user: User, namespace: Namespace, token_role: str = TokenRole.WRITE) -> bool:
    return has_role(namespace_role(user, namespace), Role.WRITE) and token_role != TokenRole.READ


def _check_manage(user: User, namespace: Namespace, token_role: str) -> None:
    if not has_role(namespace_role(user, namespace), Role.WRITE):
        raise Forbidden(f"You need the write role in '{namespace.name}' to manage its endpoints.", code="forbidden")
    if token_role == TokenRole.READ:
        raise Forbidden("This token is read-only; use a write token to make changes.", code="read_only_token")


def _queue_slug(namespace: Namespace, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", f"{namespace.name}-{name}".lower()).strip("-")[:100] or "endpoint"
    if not Endpoint.objects.filter(queue=base).exists():
        return base
    return f"{base}-{secrets.token_hex(3)}"


# --- events and states ---------------------------------------------------------------------------------------


def add_event(endpoint: Endpoint, kind: str, message: str, **data: object) -> None:
    EndpointEvent.objects.create(endpoint=endpoint, kind=kind, message=message[:1000], data=data)


def transition(endpoint: Endpoint, to: str, message: str = "", *, error: str | None = None, **fields) -> bool:
    """Move to `to` if the TRANSITIONS table allows it from the current state; False (and no change) otherwise."""
    sources = [state for state, targets in TRANSITIONS.items() if to in targets]
    now = timezone.now()
    values = {"state": to, "state_changed_at": now, "updated_at": now, **fields}
    if error is not None:
        values["last_error"] = error[:4000]
    moved = Endpoint.objects.filter(pk=endpoint.pk, state__in=sources).update(**values)
    if moved:
        stamp.bump()  # cached lookups (hub.endpoints.selectors) see the new state on the next request
        previous = endpoint.state
        for key, value in values.items():
            setattr(endpoint, key, value)
        text = message or f"{previous} → {to}"
        add_event(endpoint, EndpointEvent.ERROR if to == State.FAILED else EndpointEvent.STATE, text, state=to)
    return bool(moved)


# --- lifecycle -----------------------------------------------------------------------------------------------


def create_endpoint(
    *,
    user: User,
    namespace: Namespace,
    name: str,
    repo: Repo,
    task: str,
    revision: str = "main",
    hardware: str = Hardware.CPU,
    min_replicas: int = 0,
    max_replicas: int = 1,
    idle_timeout_s: int = 900,
    max_batch_size: int = 32,
    max_wait_ms: int = 5,
    private: bool = False,
    token_role: str = TokenRole.WRITE,
) -> Endpoint:
    """A new endpoint for `repo` (which the caller can read) at `revision` pinned to its commit, then started."""
    _check_manage(user, namespace, token_role)
    validate_name(name, what="endpoint name")
    if repo.type != RepoType.MODEL:
        raise Invalid("Only model repos can be deployed.", code="invalid_repo")
    if task not in Task.values:
        raise Invalid(f"task must be one of {', '.join(Task.values)}.", code="invalid_task")
    if hardware not in Hardware.values:
        raise Invalid(f"hardware must be one of {', '.join(Hardware.values)}.", code="invalid_hardware")
    low, high = _replicas(min_replicas, max_replicas)
    commit = resolve_revision(repo, revision or "main")
    fields = {
        "idle_timeout_s": _int(idle_timeout_s, "idle_timeout_s", 0, 7 * 86400),
        "max_batch_size": _int(max_batch_size, "max_batch_size", 1, 256),
        "max_wait_ms": _int(max_wait_ms, "max_wait_ms", 0, 1000),
    }
    try:
        with transaction.atomic():
            endpoint = Endpoint.objects.create(
                namespace=namespace, name=name, repo=repo, revision=revision or "main", commit_sha=commit.sha,
                task=task, hardware=hardware, min_replicas=low, max_replicas=high, replicas=max(low, 1),
                private=bool(private), queue=_queue_slug(namespace, name), created_by=user, **fields,
            )  # fmt: skip
            add_event(endpoint, EndpointEvent.STATE, f"created for {repo.full_name}@{commit.sha[:12]}", state="pending")
    except IntegrityError as exc:
        raise Conflict(f"Endpoint {namespace.name}/{name} already exists.", code="endpoint_exists") from exc
    transaction.on_commit(lambda: start(endpoint))
    return endpoint


def start(endpoint: Endpoint, *, patience: float = 1.0) -> int:
    """Add the endpoint's consumers now (pending/scaled to zero → initializing); how many replicas it has."""
    endpoint.refresh_from_db()
    if endpoint.state in (State.PAUSED, State.FAILED):
        return 0
    queues = scaling.worker_queues(patience=patience)
    count = scaling.scale(endpoint.celery_queue, endpoint.replicas, hardware=endpoint.hardware, queues=queues)
    if count == 0:
        if endpoint.state != State.PENDING:
            return 0
        add_event(endpoint, EndpointEvent.SCALE, "waiting for a serving worker", replicas=0)
        return 0
    if endpoint.state in (State.PENDING, State.SCALED_TO_ZERO):
        transition(endpoint, State.INITIALIZING, f"starting {count} replica(s)", woke_at=timezone.now())
    return count


def _check_serving(endpoint: Endpoint) -> bool:
    """True when requests can be queued now (running, or initializing: its consumers were added when it woke)."""
    if endpoint.state in AWAKE:
        return True
    if endpoint.state == State.PAUSED:
        raise Unavailable(f"Endpoint {endpoint.full_name} is paused; resume it to serve requests.", code="paused")
    if endpoint.state == State.FAILED:
        raise Unavailable(f"Endpoint {endpoint.full_name} failed: {endpoint.last_error}", code="endpoint_failed")
    return False


def ensure_awake(endpoint: Endpoint) -> None:
    """Before dispatching a request: wake an endpoint scaled to zero; refuse a paused or failed one.

    Concurrent requests to a sleeping endpoint wake it once: they take turns on a lock and look at the state again,
    so one remote-control round adds the consumers and the others find it initializing and just queue (a round per
    request exhausted the broker's connection pool with 32 clients)."""
    if _check_serving(endpoint):
        return
    with _wake_lock:
        endpoint.refresh_from_db()
        if _check_serving(endpoint):
            return
        # A busy worker may miss one short remote-control round; ask again with more patience before giving up.
        if start(endpoint) == 0 and start(endpoint, patience=3.0) == 0:
            raise Unavailable(
                "No inference worker is available to serve this endpoint; start one with "
                "`celery -A hub worker -P threads -Q inference`.",
                code="no_replica",
            )


def note_answer(endpoint: Endpoint) -> None:
    """A reply came back: the endpoint is running (an initializing one records its measured cold start)."""
    now = timezone.now()
    if endpoint.state == State.INITIALIZING:
        woke = endpoint.woke_at or endpoint.state_changed_at
        cold = (now - woke).total_seconds() * 1000
        transition(endpoint, State.RUNNING, f"running (cold start {cold:.0f} ms)", cold_start_ms=cold)
    if endpoint.last_request_at is None or now - endpoint.last_request_at > timedelta(seconds=1):
        Endpoint.objects.filter(pk=endpoint.pk).update(last_request_at=now)  # bookkeeping: no stamp bump
        endpoint.last_request_at = now
        selectors.remember_last_request(endpoint)


def pause(*, endpoint: Endpoint, user: User, token_role: str = TokenRole.WRITE) -> Endpoint:
    _check_manage(user, endpoint.namespace, token_role)
    if endpoint.state == State.PAUSED:
        return endpoint
    if not transition(endpoint, State.PAUSED, "paused"):
        raise Conflict(f"An endpoint in state {endpoint.state} cannot be paused.", code="invalid_state")
    transaction.on_commit(lambda: scaling.scale(endpoint.celery_queue, 0, hardware=endpoint.hardware))
    return endpoint


def resume(*, endpoint: Endpoint, user: User, token_role: str = TokenRole.WRITE) -> Endpoint:
    _check_manage(user, endpoint.namespace, token_role)
    if endpoint.state in AWAKE or endpoint.state == State.PENDING:
        return endpoint
    if endpoint.state == State.SCALED_TO_ZERO:
        transaction.on_commit(lambda: start(endpoint))
        return endpoint
    if not transition(endpoint, State.PENDING, "resumed", error=""):
        raise Conflict(f"An endpoint in state {endpoint.state} cannot be resumed.", code="invalid_state")
    transaction.on_commit(lambda: start(endpoint))
    return endpoint


def scale(
    *,
    endpoint: Endpoint,
    user: User,
    min_replicas: object = None,
    max_replicas: object = None,
    replicas: object = None,
    idle_timeout_s: object = None,
    token_role: str = TokenRole.WRITE,
) -> Endpoint:
    """Change the replica bounds (and the replicas wanted while awake, clamped to them) and apply them now."""
    _check_manage(user, endpoint.namespace, token_role)
    low, high = _replicas(
        endpoint.min_replicas if min_replicas is None else min_replicas,
        endpoint.max_replicas if max_replicas is None else max_replicas,
    )
    want = endpoint.replicas if replicas is None else _int(replicas, "replicas", 0, MAX_REPLICAS)
    want = min(max(want, low, 1), high)
    fields = {"min_replicas": low, "max_replicas": high, "replicas": want}
    if idle_timeout_s is not None:
        fields["idle_timeout_s"] = _int(idle_timeout_s, "idle_timeout_s", 0, 7 * 86400)
    Endpoint.objects.filter(pk=endpoint.pk).update(**fields, updated_at=timezone.now())
    stamp.bump()
    for key, value in fields.items():
        setattr(endpoint, key, value)
    add_event(endpoint, EndpointEvent.SCALE, f"replicas {low}–{high}, {want} while awake", **fields)
    if endpoint.state in AWAKE:
        transaction.on_commit(lambda: scaling.scale(endpoint.celery_queue, want, hardware=endpoint.hardware))
    return endpoint


def update_revision(*, endpoint: Endpoint, user: User, revision: str, token_role: str = TokenRole.WRITE) -> Endpoint:
    """Rolling update: replicas warm the new commit (loaded next to the old one) while the old keeps serving;
    once the warm-up requests on the new commit answer, requests switch to it (hub.endpoints.rolling, in a worker).
    """
    _check_manage(user, endpoint.namespace, token_role)
    commit = resolve_revision(endpoint.repo, revision)
    if commit.sha == endpoint.commit_sha:
        Endpoint.objects.filter(pk=endpoint.pk).update(revision=revision, pending_commit_sha="")
        stamp.bump()
        endpoint.revision, endpoint.pending_commit_sha = revision, ""
        return endpoint
    if endpoint.state not in AWAKE:
        # Nothing is serving: switch at once.
        Endpoint.objects.filter(pk=endpoint.pk).update(revision=revision, commit_sha=commit.sha, pending_commit_sha="")
        stamp.bump()
        endpoint.revision, endpoint.commit_sha, endpoint.pending_commit_sha = revision, commit.sha, ""
        add_event(endpoint, EndpointEvent.REVISION, f"now serving {commit.sha[:12]}", commit=commit.sha)
        return endpoint
    Endpoint.objects.filter(pk=endpoint.pk).update(revision=revision, pending_commit_sha=commit.sha)
    stamp.bump()
    endpoint.revision, endpoint.pending_commit_sha = revision, commit.sha
    add_event(endpoint, EndpointEvent.REVISION, f"rolling update to {commit.sha[:12]} started", commit=commit.sha)
    pk, sha = endpoint.pk, commit.sha
    transaction.on_commit(lambda: send_roll(pk, sha))
    return endpoint


def send_roll(endpoint_id: int, commit: str) -> None:
    """The warm-up runs in a worker (hub.endpoints.rolling via workers.endpoints.roll), never in the web request."""
    app.send_task(ROLL_TASK, kwargs={"endpoint_id": endpoint_id, "commit": commit}, queue=ROLL_QUEUE)


def finish_rolling_update(endpoint: Endpoint, sha: str, *, ok: bool, error: str = "") -> None:
    """Switch to `sha` (ok) or keep the old commit and record `error`; a no-op unless `sha` is still pending."""
    if ok:
        moved = Endpoint.objects.filter(pk=endpoint.pk, pending_commit_sha=sha).update(
            commit_sha=sha, pending_commit_sha="", updated_at=timezone.now()
        )
        if moved:
            stamp.bump()  # requests switch to the new commit
            endpoint.commit_sha, endpoint.pending_commit_sha = sha, ""
            add_event(endpoint, EndpointEvent.REVISION, f"now serving {sha[:12]}", commit=sha)
    else:
        error = error[:4000]
        moved = Endpoint.objects.filter(pk=endpoint.pk, pending_commit_sha=sha).update(
            pending_commit_sha="", last_error=error, updated_at=timezone.now()
        )
        if moved:
            stamp.bump()
            endpoint.pending_commit_sha, endpoint.last_error = "", error
            text = f"rolling update to {sha[:12]} failed, still serving {endpoint.commit_sha[:12]}: {error}"
            add_event(endpoint, EndpointEvent.ERROR, text, commit=sha)


def delete(*, endpoint: Endpoint, user: User, token_role: str = TokenRole.WRITE) -> None:
    _check_manage(user, endpoint.namespace, token_role)
    queue, hardware = endpoint.celery_queue, endpoint.hardware
    endpoint.delete()
    transaction.on_commit(lambda: scaling.scale(queue, 0, hardware=hardware))


def fail(endpoint: Endpoint, error: str) -> None:
    transition(endpoint, State.FAILED, f"failed: {error[:200]}", error=error)
    scaling.scale(endpoint.celery_queue, 0, hardware=endpoint.hardware)


# --- the periodic reconciler ---------------------------------------------------------------------------------


def reconcile(*, now: float | None = None) -> dict[str, int]:
    """Bring the workers in line with the database: awake endpoints have their consumers (again, after a worker
    restart) and autoscale between min and max replicas; idle ones past their timeout (and min_replicas 0) scale to
    zero; paused and deleted ones have none; a rolling update whose message was lost is sent again.
    Run by celery beat (workers.endpoints.reconcile) and safe to run any time."""
    queues = scaling.worker_queues()
    stats = {"scaled_to_zero": 0, "restored": 0, "released": 0, "autoscaled": 0, "rolls_resent": 0}
    now_dt = timezone.now() if now is None else datetime.fromtimestamp(now, tz=UTC)
    live = {e.celery_queue: e for e in Endpoint.objects.select_related("namespace")}
    awake = [name for name, e in live.items() if e.state in AWAKE]
    waiting = autoscale.backlogs(awake) if scaling.has_remote_control() else {}
    policy = autoscale.Policy.from_settings()
    for endpoint in live.values():
        if endpoint.pending_commit_sha and _resend_roll(endpoint, now_dt):
            stats["rolls_resent"] += 1
        idle_since = endpoint.last_request_at or endpoint.state_changed_at
        idle = (now_dt - idle_since).total_seconds()
        if endpoint.state in AWAKE:
            if endpoint.min_replicas == 0 and endpoint.idle_timeout_s and idle >= endpoint.idle_timeout_s:
                if transition(endpoint, State.SCALED_TO_ZERO, f"scaled to zero after {idle:.0f} s idle"):
                    scaling.scale(endpoint.celery_queue, 0, hardware=endpoint.hardware, queues=queues)
                    stats["scaled_to_zero"] += 1
                continue
            if endpoint.celery_queue in waiting:
                workers = len(scaling.serving_workers(queues, endpoint.hardware))
                measured = autoscale.measure(
                    endpoint, backlog=waiting[endpoint.celery_queue], workers=workers, now=now_dt, policy=policy
                )
                want, why = autoscale.decide(measured, policy)
                if want != endpoint.replicas and _autoscale(endpoint, want, why, measured):
                    stats["autoscaled"] += 1
            have = len(scaling.replicas_of(endpoint.celery_queue, queues))
            if have != endpoint.replicas:
                stats["restored"] += 1
                scaling.scale(endpoint.celery_queue, endpoint.replicas, hardware=endpoint.hardware, queues=queues)
        elif endpoint.state == State.PENDING:
            start(endpoint)
        elif scaling.replicas_of(endpoint.celery_queue, queues):
            stats["released"] += 1
            scaling.scale(endpoint.celery_queue, 0, hardware=endpoint.hardware, queues=queues)
    # Queues of deleted endpoints that a worker still consumes.
    for host, names in queues.items():
        for name in names:
            if name.startswith(scaling.SERVING_QUEUE + ".") and name not in live:
                scaling.app.control.cancel_consumer(name, destination=[host])
                stats["released"] += 1
    return stats


def _autoscale(endpoint: Endpoint, want: int, why: str, measured: autoscale.Measure) -> bool:
    """Record the policy's decision (the caller applies it to the workers); False if replicas changed meanwhile."""
    before = endpoint.replicas
    moved = Endpoint.objects.filter(pk=endpoint.pk, replicas=before).update(replicas=want, updated_at=timezone.now())
    if not moved:
        return False
    stamp.bump()
    endpoint.replicas = want
    data = {"backlog": measured.backlog, "requests": measured.requests, "workers": measured.workers}
    data["mean_latency_ms"] = round(measured.mean_latency_ms, 1)
    add_event(
        endpoint, EndpointEvent.SCALE, f"autoscaled {before} → {want}: {why}", replicas=want, autoscaled=True, **data
    )
    return True


def _resend_roll(endpoint: Endpoint, now: datetime) -> bool:
    """A pending rolling update with no news for longer than a warm-up may take: its message was lost; send again."""
    bound = float(getattr(settings, "HUB_ENDPOINT_ROLL_RESEND_SECONDS", 660))
    sha = endpoint.pending_commit_sha
    last = endpoint.events.filter(data__commit=sha).aggregate(at=Max("created_at"))["at"]
    if last is not None and (now - last).total_seconds() < bound:
        return False
    add_event(endpoint, EndpointEvent.INFO, f"re-sending the rolling update to {sha[:12]}", commit=sha)
    send_roll(endpoint.pk, sha)
    return True


# --- metering ------------------------------------------------------------------------------------------------


def record_usage(
    *,
    endpoint: Endpoint,
    user: User | None,
    token: ApiToken | None,
    route: str,
    status: str,
    stream: bool = False,
    usage: dict | None = None,
    latency_ms: float = 0.0,
    load_ms: float = 0.0,
    batch_size: int = 0,
) -> UsageRecord:
    """Meter one request. Batched (hub/endpoints/metering.py): the record is written within HUB_USAGE_FLUSH_MS, at
    once inside a transaction; readers of usage call metering.flush() first."""
    usage = usage or {}

    def _n(key: str) -> int:
        value = usage.get(key) or 0
        return max(int(value), 0) if isinstance(value, int | float) else 0

    return metering.record(UsageRecord(
        endpoint=endpoint, user=user if user and user.is_authenticated else None, token=token, route=route,
        status=status, stream=stream, input_tokens=_n("input_tokens"), output_tokens=_n("output_tokens"),
        compute_ms=float(usage.get("compute_ms") or 0.0), latency_ms=latency_ms, load_ms=float(load_ms or 0.0),
        batch_size=min(int(batch_size or 0), 32767), created_at=timezone.now(),
    ))  # fmt: skip


def monotonic_ms(start: float) -> float:
    return (time.monotonic() - start) * 1000
