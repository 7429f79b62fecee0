"""Autoscaling between min_replicas and max_replicas, one replica at a time, decided by the reconciler.

`decide` is the policy: a pure function of one endpoint's measurements. `measure` reads them: the backlog (messages
waiting in the endpoint's broker queue, `backlogs`) and the recent traffic (UsageRecord in the last window). Only
with Celery remote control (Redis, AMQP): on the embedded broker every serving worker serves every endpoint already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, Max

from hub.celery import app
from hub.endpoints import metering
from hub.endpoints.models import Endpoint, EndpointEvent, UsageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    backlog_per_replica: int = 8  # scale up when the queue holds more than this per replica
    cooldown_s: float = 300.0  # no scale-down sooner than this after the last change
    window_s: float = 120.0  # the traffic window
    idle_rps: float = 0.5  # "low traffic": at most this many requests/s per remaining replica

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            backlog_per_replica=max(int(getattr(settings, "HUB_AUTOSCALE_BACKLOG_PER_REPLICA", 8)), 1),
            cooldown_s=float(getattr(settings, "HUB_AUTOSCALE_COOLDOWN_S", 300)),
            window_s=max(float(getattr(settings, "HUB_AUTOSCALE_WINDOW_S", 120)), 1.0),
            idle_rps=float(getattr(settings, "HUB_AUTOSCALE_IDLE_RPS", 0.5)),
        )


@dataclass(frozen=True)
class Measure:
    replicas: int  # wanted now
    min_replicas: int
    max_replicas: int
    workers: int  # serving workers that could host a replica
    backlog: int  # messages waiting in the endpoint's queue
    requests: int = 0  # in the traffic window
    mean_latency_ms: float = 0.0
    since_change_s: float | None = None  # since the last scale change or wake-up; None: never


def decide(m: Measure, policy: Policy) -> tuple[int, str]:
    """(replicas wanted, why); the same count and '' when nothing should change."""
    ceiling = min(m.max_replicas, m.workers)
    floor = max(m.min_replicas, 1)
    if m.backlog > policy.backlog_per_replica * max(m.replicas, 1) and m.replicas < ceiling:
        return m.replicas + 1, f"backlog {m.backlog}"
    cooled = m.since_change_s is None or m.since_change_s >= policy.cooldown_s
    if m.replicas > floor and m.backlog == 0 and cooled:
        rps = m.requests / policy.window_s
        if rps <= policy.idle_rps * (m.replicas - 1):
            return m.replicas - 1, f"low traffic ({m.requests} requests in {policy.window_s:.0f} s)"
    return m.replicas, ""


def backlogs(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker has prefetched); {} when the broker cannot be asked."""
    sizes: dict[str, int] = {}
    if not queues:
        return sizes
    try:
        # A connection of its own: a pooled one may be in the middle of a consumer's BRPOP.
        with app.connection_for_read() as connection, connection.channel() as channel:
            redis = getattr(channel, "client", None) if connection.transport_cls.startswith("redis") else None
            for queue in queues:
                if redis is not None:  # LLEN through kombu's client, which adds the global key prefix
                    sizes[queue] = int(redis.llen(queue) or 0)
                    continue
                try:
                    sizes[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # a queue nobody declared yet: nothing waits
                    sizes[queue] = 0
    except Exception:
        log.exception("could not measure queue backlogs")
        return {}
    return sizes


def measure(endpoint: Endpoint, *, backlog: int, workers: int, now: datetime, policy: Policy) -> Measure:
    metering.flush()  # this process's pending records; other processes' land within HUB_USAGE_FLUSH_MS
    since = now - timedelta(seconds=policy.window_s)
    traffic = UsageRecord.objects.filter(endpoint=endpoint, created_at__gte=since, created_at__lte=now).aggregate(
        requests=Count("id"), latency=Avg("latency_ms")
    )
    last = endpoint.events.filter(kind=EndpointEvent.SCALE).aggregate(at=Max("created_at"))["at"]
    changed = max((t for t in (last, endpoint.woke_at) if t is not None), default=None)
    return Measure(
        replicas=endpoint.replicas,
        min_replicas=endpoint.min_replicas,
        max_replicas=endpoint.max_replicas,
        workers=workers,
        backlog=backlog,
        requests=traffic["requests"] or 0,
        mean_latency_ms=float(traffic["latency"] or 0.0),
        since_change_s=None if changed is None else (now - changed).total_seconds(),
    )
