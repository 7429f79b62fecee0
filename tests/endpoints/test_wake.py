"""Concurrent requests to a sleeping endpoint wake it once (services.ensure_awake), not once per request."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from hub.endpoints import services
from hub.endpoints.models import Endpoint, State


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_wake_a_sleeping_endpoint_once(alice, make_repo, make_endpoint, monkeypatch):
    repo = make_repo(alice, "sleepy", files={"config.json": b"{}"})
    endpoint = make_endpoint(alice, repo)
    Endpoint.objects.filter(pk=endpoint.pk).update(state=State.SCALED_TO_ZERO)
    starts = []

    def start(ep, *, patience=1.0):  # a remote-control round: slow, and it moves the endpoint to initializing
        starts.append(threading.get_ident())
        threading.Event().wait(0.2)
        ep.refresh_from_db()
        services.transition(ep, State.INITIALIZING, "starting 1 replica(s)")
        return 1

    monkeypatch.setattr(services, "start", start)
    errors = []
    barrier = threading.Barrier(16)

    def request() -> None:
        try:
            barrier.wait()
            services.ensure_awake(Endpoint.objects.get(pk=endpoint.pk))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(starts) == 1
    assert Endpoint.objects.get(pk=endpoint.pk).state == State.INITIALIZING


@pytest.mark.django_db
def test_a_paused_endpoint_is_refused_without_waking(alice, make_repo, make_endpoint, monkeypatch):
    repo = make_repo(alice, "paused", files={"config.json": b"{}"})
    endpoint = make_endpoint(alice, repo)
    Endpoint.objects.filter(pk=endpoint.pk).update(state=State.PAUSED)
    monkeypatch.setattr(services, "start", lambda *a, **k: pytest.fail("woke a paused endpoint"))
    with pytest.raises(services.Unavailable) as raised:
        services.ensure_awake(Endpoint.objects.get(pk=endpoint.pk))
    assert raised.value.code == "paused"
