"""On the embedded default's broker (SQLAlchemy: no broadcast, so no add_consumer), every serving worker serves every
endpoint from the shared `inference` queue; bench/load.py --backend embedded runs real traffic through it."""

import pytest


def test_without_remote_control_requests_use_the_shared_serving_queue(settings, monkeypatch):
    from hub.endpoints import scaling

    def no_broadcast(*args, **kwargs):
        raise AssertionError("remote control must not be used on a broker without broadcast")

    settings.CELERY_BROKER_URL = "sqla+sqlite:////tmp/broker.sqlite3"
    monkeypatch.setattr(scaling.app.control, "inspect", no_broadcast)
    monkeypatch.setattr(scaling.app.control, "add_consumer", no_broadcast)
    assert not scaling.has_remote_control()
    assert scaling.request_queue("inference.alice-embed") == "inference"
    assert scaling.worker_queues() == {}
    assert scaling.scale("inference.alice-embed", 2) == 2


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/0", "amqp://guest@h//"])
def test_brokers_with_broadcast_give_each_endpoint_its_queue(settings, url):
    from hub.endpoints import scaling

    settings.CELERY_BROKER_URL = url
    assert scaling.has_remote_control()
    assert scaling.request_queue("inference.alice-embed") == "inference.alice-embed"
