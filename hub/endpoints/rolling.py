"""Rolling revision updates: warm the pending commit on the endpoint's replicas, then switch requests to it.

`services.update_revision` stores `pending_commit_sha` and, once that commits, sends `workers.endpoints.roll`; the
task calls `roll` here. Requests keep going to the old commit meanwhile (dispatch uses `commit_sha`). One warm-up
request per replica goes through the endpoint's request queue: the engine loads the new commit next to the old one
(which stays in its LRU until evicted) and answers without running the model. When every warm-up answers, the
endpoint switches; when one fails or times out, it keeps serving the old commit and records the error. A lost
message is re-sent by the reconciler (`services.reconcile`).
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from hub.celery import app
from hub.core.errors import HubError
from hub.endpoints import dispatch, scaling, services
from hub.endpoints.models import Endpoint, EndpointEvent


def warmup_timeout() -> float:
    return float(getattr(settings, "HUB_ENDPOINT_WARMUP_TIMEOUT", 600))


def _send_warmup(endpoint: Endpoint, commit: str, deadline: float):
    request = {"id": uuid.uuid4().hex, "warmup": True, "inputs": None, "parameters": {}, "deadline": deadline}
    return app.send_task(
        dispatch.TASK_NAME,
        kwargs={"spec": dispatch._spec(endpoint, endpoint.task, commit=commit), "request": request},
        queue=scaling.request_queue(endpoint.celery_queue),
        expires=max(deadline - time.time(), 1.0),
    )


def _outcome(result, deadline: float) -> str:
    """'' when the warm-up answered, else why not."""
    try:
        dispatch._wait(result, deadline)
    except HubError as exc:
        return exc.message
    except Exception as exc:  # the worker's error (ValueError from a model that cannot load), re-raised here
        return str(exc) or exc.__class__.__name__
    return ""


def roll(*, endpoint_id: int, commit: str, timeout: float | None = None) -> str:
    """Warm `commit` on the endpoint's replicas and switch to it (or record why not): 'switched', 'failed' or
    'stale' (the endpoint is gone or no longer waiting for this commit: a re-delivered or superseded message)."""
    endpoint = Endpoint.objects.select_related("namespace", "repo__namespace").filter(pk=endpoint_id).first()
    if endpoint is None or not commit or endpoint.pending_commit_sha != commit:
        return "stale"
    if endpoint.state not in services.AWAKE:  # nothing is serving: the next wake-up loads the new commit
        services.finish_rolling_update(endpoint, commit, ok=True)
        return "switched"
    deadline = time.time() + (timeout or warmup_timeout())
    count = max(endpoint.replicas, 1)
    services.add_event(endpoint, EndpointEvent.INFO, f"warming {commit[:12]} on {count} replica(s)", commit=commit)
    results = [_send_warmup(endpoint, commit, deadline) for _ in range(count)]
    errors = [error for error in (_outcome(result, deadline) for result in results) if error]
    if errors:
        services.finish_rolling_update(endpoint, commit, ok=False, error=errors[0])
        return "failed"
    services.finish_rolling_update(endpoint, commit, ok=True)
    return "switched"
