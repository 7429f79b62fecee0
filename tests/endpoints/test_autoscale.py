"""Autoscaling between min_replicas and max_replicas: the pure policy, then a live flood against two serving workers
(Redis) that the reconciler answers with a second replica and, once traffic stops and the cool-down passes, one."""

from __future__ import annotations

import threading
import time

import pytest

from hub.endpoints.autoscale import Measure, Policy, decide

POLICY = Policy(backlog_per_replica=8, cooldown_s=300, window_s=120, idle_rps=0.5)


def measure(**kw) -> Measure:
    values = {"replicas": 1, "min_replicas": 1, "max_replicas": 3, "workers": 4, "backlog": 0}
    return Measure(**{**values, **kw})


def test_a_backlog_over_the_threshold_adds_one_replica():
    assert decide(measure(backlog=9), POLICY) == (2, "backlog 9")
    assert decide(measure(replicas=2, backlog=17, since_change_s=1), POLICY) == (3, "backlog 17")


def test_a_backlog_at_the_threshold_changes_nothing():
    assert decide(measure(backlog=8), POLICY) == (1, "")
    assert decide(measure(replicas=2, backlog=16, since_change_s=1000), POLICY) == (2, "")


def test_never_above_max_replicas_nor_the_serving_workers():
    assert decide(measure(replicas=3, max_replicas=3, backlog=500), POLICY) == (3, "")
    assert decide(measure(replicas=2, max_replicas=3, workers=2, backlog=500), POLICY) == (2, "")


def test_scale_down_one_after_the_cooldown_with_no_backlog_and_low_traffic():
    want, why = decide(measure(replicas=3, requests=10, since_change_s=301), POLICY)
    assert want == 2 and why.startswith("low traffic (10 requests")


def test_no_scale_down_within_the_cooldown_with_a_backlog_or_under_busy_traffic():
    assert decide(measure(replicas=2, since_change_s=299), POLICY) == (2, "")
    assert decide(measure(replicas=2, backlog=1, since_change_s=1000), POLICY) == (2, "")
    assert decide(measure(replicas=2, requests=61, since_change_s=1000), POLICY) == (2, "")  # > 0.5 rps × 1 left


def test_never_below_min_replicas_nor_below_one_while_awake():
    assert decide(measure(replicas=2, min_replicas=2, since_change_s=1000), POLICY) == (2, "")
    assert decide(measure(replicas=1, min_replicas=0, since_change_s=1000), POLICY) == (1, "")
    assert decide(measure(replicas=2, min_replicas=0, since_change_s=None), POLICY)[0] == 1


def test_policy_reads_the_settings(settings):
    settings.HUB_AUTOSCALE_BACKLOG_PER_REPLICA = 3
    settings.HUB_AUTOSCALE_COOLDOWN_S = 7
    policy = Policy.from_settings()
    assert policy.backlog_per_replica == 3 and policy.cooldown_s == 7


@pytest.mark.django_db
def test_the_embedded_broker_never_measures_nor_autoscales(settings, monkeypatch, alice, make_repo):
    from hub.endpoints import autoscale, scaling, services
    from hub.endpoints.models import Endpoint, State

    def no_broker(*args, **kwargs):
        raise AssertionError("no backlog to measure without remote control")

    settings.CELERY_BROKER_URL = "sqla+sqlite:////tmp/broker.sqlite3"
    monkeypatch.setattr(autoscale, "backlogs", no_broker)
    monkeypatch.setattr(scaling.app.control, "inspect", no_broker)
    repo = make_repo(alice, "m", files={"config.json": b"{}"})
    endpoint = services.create_endpoint(
        user=alice,
        namespace=alice.namespace,
        name="m",
        repo=repo,
        task="feature-extraction",
        min_replicas=1,
        max_replicas=3,
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(state=State.RUNNING, replicas=3)
    assert services.reconcile(now=time.time() + 3600)["autoscaled"] == 0
    endpoint.refresh_from_db()
    assert endpoint.replicas == 3 and endpoint.state == State.RUNNING


# --- live: Redis, two serving worker processes ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_flood_scales_to_two_replicas_then_back_to_one(
    settings, live_server, serving_worker, alice, make_token, model_repo, make_endpoint
):
    import requests

    from hub.endpoints import scaling, services
    from hub.endpoints.models import EndpointEvent

    settings.HUB_INFERENCE_RATE_LIMIT = ""
    settings.HUB_AUTOSCALE_BACKLOG_PER_REPLICA = 2
    settings.HUB_AUTOSCALE_COOLDOWN_S = 60
    settings.HUB_AUTOSCALE_WINDOW_S = 30
    assert scaling.has_remote_control()
    first, second = serving_worker("scale-a"), serving_worker("scale-b")
    endpoint = make_endpoint(alice, model_repo(alice, "llm"), "chat", name="busy", min_replicas=1, max_replicas=2)
    queue = endpoint.celery_queue
    assert len(scaling.replicas_of(queue, scaling.worker_queues(patience=3))) == 1
    url, headers = f"{live_server.url}/endpoints/alice/busy", {"Authorization": f"Bearer {make_token(alice)}"}
    body = {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 48}}
    # One answer first: the flood then meets a running endpoint (each request to an initializing one asks the
    # workers for their queues, and many such rounds at once exhaust the broker connection pool).
    assert requests.post(url, json=body, headers=headers, timeout=120).status_code == 200
    stop, statuses = threading.Event(), []

    def client():
        while not stop.is_set():
            r = requests.post(url, json=body, headers=headers, timeout=120)
            statuses.append(r.status_code if r.status_code == 200 else (r.status_code, r.text[:300]))

    clients = [threading.Thread(target=client) for _ in range(14)]
    for thread in clients:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            services.reconcile()
            endpoint.refresh_from_db()
            if endpoint.replicas == 2:
                break
            time.sleep(0.5)
        assert endpoint.replicas == 2, "the flood never scaled the endpoint up"
        hosts = scaling.replicas_of(queue, scaling.worker_queues(patience=3))
        assert hosts == sorted([first.hostname, second.hostname])
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=180)
    assert statuses and set(statuses) == {200}, [s for s in statuses if s != 200][:3]
    up = endpoint.events.filter(kind=EndpointEvent.SCALE, message__startswith="autoscaled 1 → 2: backlog ").get()
    assert up.data["backlog"] > 2 and up.data["autoscaled"] is True

    services.reconcile()  # within the cool-down: stays at two
    endpoint.refresh_from_db()
    assert endpoint.replicas == 2
    services.reconcile(now=time.time() + 61)  # the cool-down passed, no backlog, no traffic in the window
    endpoint.refresh_from_db()
    assert endpoint.replicas == 1
    assert endpoint.events.filter(message__startswith="autoscaled 2 → 1: low traffic").exists()
    deadline = time.monotonic() + 60  # as beat would: a worker that missed a control round is handled next round
    while len(scaling.replicas_of(queue, scaling.worker_queues(patience=3))) != 1:
        assert time.monotonic() < deadline, "the second replica kept consuming"
        services.reconcile()
    reply = requests.get(f"{live_server.url}/api/v1/endpoints/alice/busy", headers=headers, timeout=30).json()
    assert reply["replicas"] == 1 and reply["events"][0]["message"].startswith("autoscaled 2 → 1")
