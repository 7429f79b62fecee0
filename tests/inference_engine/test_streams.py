"""Token streams: Redis streams under the Celery key prefix, and the file fallback of the embedded broker."""

from __future__ import annotations

import threading
import time
import uuid

import pytest


@pytest.fixture(params=["redis", "files"])
def transport(request, tmp_path, settings):
    from workers.inference import streams

    if request.param == "files":
        settings.CELERY_BROKER_URL = "sqla+sqlite:///" + str(tmp_path / "broker.sqlite3")
        settings.DATA_DIR = tmp_path
    return streams


def test_events_arrive_in_order_and_end_at_done(transport):
    rid = uuid.uuid4().hex
    transport.publish(rid, {"type": "token", "text": "Hel"})

    def later():
        time.sleep(0.1)
        transport.publish(rid, {"type": "token", "text": "lo"})
        transport.publish(rid, {"type": "done", "finish_reason": "stop", "usage": {"output_tokens": 2}})
        transport.publish(rid, {"type": "token", "text": "after the end"})

    threading.Thread(target=later).start()
    events = list(transport.subscribe(rid, timeout_s=5))
    assert [e.get("text") for e in events] == ["Hel", "lo", None]
    assert events[-1]["finish_reason"] == "stop"


def test_a_silent_stream_ends_with_an_error_after_the_timeout(transport):
    started = time.monotonic()
    events = list(transport.subscribe(uuid.uuid4().hex, timeout_s=0.3))
    assert events[-1]["type"] == "error" and "0.3" in events[-1]["message"]
    assert time.monotonic() - started < 2.5


def test_cancel_is_seen_by_the_worker(transport):
    rid = uuid.uuid4().hex
    assert not transport.is_cancelled(rid)
    transport.cancel(rid)
    assert transport.is_cancelled(rid)


def test_has_events_tells_a_redelivered_request(transport):
    rid = uuid.uuid4().hex
    assert not transport.has_events(rid)
    transport.publish(rid, {"type": "token", "text": "x"})
    assert transport.has_events(rid)


def test_redis_keys_carry_the_celery_prefix_and_expire(settings):
    import redis

    from workers.inference import streams

    rid = uuid.uuid4().hex
    streams.publish(rid, {"type": "token", "text": "x"})
    streams.cancel(rid)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for kind in ("stream", "cancel"):
        key = f"{settings.CELERY_KEY_PREFIX}inference:{kind}:{rid}"
        assert 0 < client.ttl(key) <= streams.TTL_S
    list(streams.subscribe(rid, 0.1))  # reading to the end deletes the stream
    assert not client.exists(f"{settings.CELERY_KEY_PREFIX}inference:stream:{rid}")


def test_the_file_transport_refuses_a_path_in_a_request_id(tmp_path):
    from workers.inference.streams import _Files

    with pytest.raises(ValueError):
        _Files(tmp_path).publish("../escape", {"type": "token"})
