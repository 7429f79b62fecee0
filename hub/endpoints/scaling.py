"""Replicas are Celery consumers: a serving worker (one that consumes the `inference` queue) becomes a replica of an
endpoint when it also consumes `inference.<endpoint queue>`. Scaling adds or cancels those consumers with Celery's
remote control (add_consumer / cancel_consumer); nothing else keeps replica state, so after a worker restart the
periodic reconciler (services.reconcile) adds its consumers again."""

from __future__ import annotations

import logging

from django.conf import settings

from hub.celery import app

log = logging.getLogger(__name__)
SERVING_QUEUE = "inference"


def has_remote_control() -> bool:
    """Celery's remote control (broadcast: add_consumer, inspect) needs Redis or AMQP; the embedded default's
    SQLAlchemy broker has none. Without it every serving worker serves every endpoint from the shared queue."""
    return settings.CELERY_BROKER_URL.split(":", 1)[0] in {"redis", "rediss", "amqp", "amqps", "pyamqp"}


def request_queue(endpoint_queue: str) -> str:
    """Where an endpoint's requests go: its own queue, or the shared serving queue without remote control."""
    return endpoint_queue if has_remote_control() else SERVING_QUEUE


def _timeout() -> float:
    return float(getattr(settings, "HUB_ENDPOINT_CONTROL_TIMEOUT", 1.0))


def worker_queues(*, patience: float = 1.0) -> dict[str, set[str]]:
    """hostname → the queues it consumes, for every worker that answers within the control timeout × patience."""
    if not has_remote_control():
        return {}
    try:
        replies = app.control.inspect(timeout=_timeout() * patience).active_queues() or {}
    except Exception:  # broker down: no worker is reachable
        log.exception("inspect active_queues failed")
        return {}
    return {host: {q["name"] for q in queues or []} for host, queues in replies.items()}


def serving_workers(queues: dict[str, set[str]], hardware: str) -> list[str]:
    """Workers that may host a replica: they consume `inference` (and `gpu` for GPU endpoints)."""
    hosts = [h for h, names in queues.items() if SERVING_QUEUE in names and (hardware != "gpu" or "gpu" in names)]
    # Least loaded first: the fewest endpoint queues already.
    return sorted(hosts, key=lambda h: (sum(n.startswith(SERVING_QUEUE + ".") for n in queues[h]), h))


def replicas_of(queue: str, queues: dict[str, set[str]]) -> list[str]:
    return sorted(h for h, names in queues.items() if queue in names)


def scale(queue: str, want: int, *, hardware: str = "cpu", queues: dict[str, set[str]] | None = None) -> int:
    """Make `want` workers consume `queue` (as far as serving workers exist); return how many now do."""
    if not has_remote_control():  # the embedded broker: the shared queue's serving workers stand in for replicas
        return want
    queues = worker_queues() if queues is None else queues
    current = replicas_of(queue, queues)
    if len(current) > want:
        extra = current[want:]
        app.control.cancel_consumer(queue, destination=extra, reply=True, timeout=_timeout())
        return want
    if len(current) < want:
        candidates = [h for h in serving_workers(queues, hardware) if h not in current][: want - len(current)]
        if candidates:
            replies = app.control.add_consumer(
                queue, exchange=queue, routing_key=queue, destination=candidates, reply=True, timeout=_timeout()
            )
            added = {host for reply in replies or [] for host, body in reply.items() if "ok" in body}
            current += sorted(added or candidates)
    return len(current)
