"""Batched usage metering (hub/endpoints/metering.py): one INSERT per batch, flushed by readers, by its own thread
within HUB_USAGE_FLUSH_MS, kept through a database failure, at once inside a transaction or with 0 ms."""

from __future__ import annotations

import os
import time
import warnings

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hub.endpoints import metering

pytestmark = pytest.mark.django_db(transaction=True)  # the flusher's own connection sees only committed rows


@pytest.fixture(autouse=True)
def fresh_buffer(settings, request):
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")  # set up first, so torn down after this fixture's stop below
    settings.HUB_USAGE_FLUSH_MS = 60_000  # no flusher write during a test unless the test asks for one
    settings.HUB_USAGE_BATCH = 256
    metering._buffer = metering._Buffer()
    yield
    # Before the database is flushed (this fixture depends on it, so it ends first): drop what the test left and
    # stop its thread, which must not write while the tables are truncated.
    old, metering._buffer = metering._buffer, metering._Buffer()
    with old.lock:
        old.pending.clear()
    old.wake.set()  # its thread sees it was replaced and ends
    if old.thread is not None:
        old.thread.join(10)


@pytest.fixture
def endpoint(alice, make_repo, make_endpoint):
    return make_endpoint(alice, make_repo(alice, "minilm", files={"config.json": b"{}"}))


def meter(endpoint, user=None, **usage):
    from hub.endpoints import services

    return services.record_usage(
        endpoint=endpoint, user=user, token=None, route="openai", status="ok", usage=usage, latency_ms=12.5
    )


def rows(endpoint):
    from hub.endpoints.models import UsageRecord

    return UsageRecord.objects.filter(endpoint=endpoint)


def wait_for(condition, seconds: float) -> float:
    started = time.monotonic()
    while not condition() and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def test_pending_records_are_written_in_one_insert_with_their_request_time(endpoint, alice):
    before = timezone.now()
    records = [meter(endpoint, alice, input_tokens=i, output_tokens=2) for i in range(10)]
    after = timezone.now()
    assert metering.pending() == 10 and rows(endpoint).count() == 0
    time.sleep(0.05)
    with CaptureQueriesContext(connection) as queries:
        metering.flush()
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and metering.pending() == 0
    assert rows(endpoint).count() == 10 and sum(r.input_tokens for r in rows(endpoint)) == 45
    assert all(before <= r.created_at <= after for r in rows(endpoint))  # not the write's time
    assert all(r.pk is not None for r in records) and rows(endpoint).filter(user=alice).count() == 10


def test_a_full_batch_is_written_at_once_by_the_flusher(endpoint, settings):
    settings.HUB_USAGE_BATCH = 5
    for _ in range(5):
        meter(endpoint)
    assert wait_for(lambda: rows(endpoint).count() == 5, 5) < 5  # not the 60 s interval


def test_the_flusher_writes_within_the_interval_without_a_flush(endpoint, settings):
    settings.HUB_USAGE_FLUSH_MS = 100
    meter(endpoint, output_tokens=3)
    assert wait_for(lambda: rows(endpoint).exists(), 5) < 2
    assert metering.pending() == 0 and rows(endpoint).get().output_tokens == 3


def test_the_usage_api_and_the_autoscaler_flush_first(endpoint, alice_api):
    from hub.endpoints import autoscale

    meter(endpoint, input_tokens=7, output_tokens=3)
    assert metering.pending() == 1
    body = alice_api.get(f"/api/v1/endpoints/{endpoint.full_name}/usage").json()
    assert body["totals"]["requests"] == 1 and body["totals"]["input_tokens"] == 7
    meter(endpoint)
    seen = autoscale.measure(endpoint, backlog=0, workers=1, now=timezone.now(), policy=autoscale.Policy())
    assert seen.requests == 2


def test_a_failed_write_keeps_the_records_and_retries_them(endpoint, monkeypatch, caplog):
    insert, calls = metering._insert, []

    def down_once(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise OperationalError("connection refused")
        insert(batch)

    monkeypatch.setattr(metering, "_insert", down_once)
    meter(endpoint)
    meter(endpoint)
    metering.flush()  # a reader's flush while the database is down: no error, nothing lost
    assert metering.pending() == 2 and rows(endpoint).count() == 0
    assert [r.levelname for r in caplog.records if "could not write" in r.message] == ["WARNING"]
    metering.flush()
    assert metering.pending() == 0 and rows(endpoint).count() == 2 and calls == [2, 2]


def test_the_flusher_retries_by_itself_after_a_failure(endpoint, monkeypatch, settings):
    settings.HUB_USAGE_FLUSH_MS = 50
    insert, calls = metering._insert, []

    def down_once(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise OperationalError("the database is restarting")
        insert(batch)

    monkeypatch.setattr(metering, "_insert", down_once)
    meter(endpoint)
    assert wait_for(lambda: rows(endpoint).exists(), 10) < 10  # retried after a 1 s pause
    assert len(calls) == 2


def test_a_record_the_database_refuses_is_dropped_alone(endpoint, alice, make_repo, make_endpoint):
    from hub.endpoints.models import Endpoint

    other = make_endpoint(alice, make_repo(alice, "other", files={"config.json": b"{}"}))
    meter(other)
    meter(endpoint)
    Endpoint.objects.filter(pk=other.pk).delete()  # deleted while its last request's record waited
    metering.flush()
    assert metering.pending() == 0 and rows(endpoint).count() == 1


def test_past_the_bound_the_oldest_records_are_dropped_with_one_warning(endpoint, monkeypatch, caplog):
    monkeypatch.setattr(metering, "MAX_PENDING", 5)
    for tokens in range(8):
        meter(endpoint, input_tokens=tokens)
    assert [r.input_tokens for r in metering._buffer.pending] == [3, 4, 5, 6, 7]
    assert len([r for r in caplog.records if "dropping the oldest" in r.message]) == 1


def test_zero_ms_writes_each_record_at_once(endpoint, settings):
    settings.HUB_USAGE_FLUSH_MS = 0
    with CaptureQueriesContext(connection) as queries:
        record = meter(endpoint)
    assert [q["sql"].split()[0] for q in queries] == ["INSERT"]
    assert metering.pending() == 0 and rows(endpoint).get().pk == record.pk


def test_a_flush_inside_a_transaction_does_not_tie_other_requests_records_to_it(endpoint):
    meter(endpoint)
    with pytest.raises(RuntimeError), transaction.atomic():
        metering.flush()
        raise RuntimeError("the caller's work fails")
    metering.flush()  # (SQLite: the helper could not write during the transaction; the record is still pending)
    assert rows(endpoint).count() == 1


@pytest.mark.django_db  # the `db` fixture: the test's rows are uncommitted, only its own connection sees them
def test_inside_a_transaction_the_record_is_written_at_once_on_its_connection(alice, make_repo, make_endpoint):
    from hub.endpoints import selectors

    endpoint = make_endpoint(alice, make_repo(alice, "minilm", files={"config.json": b"{}"}))
    meter(endpoint, output_tokens=4)
    assert metering.pending() == 0 and rows(endpoint).count() == 1
    assert selectors.usage(endpoint)["totals"]["output_tokens"] == 4


def test_a_forked_child_starts_empty_and_leaves_the_parents_records_alone(endpoint):
    meter(endpoint)
    meter(endpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child touches no lock here
        pid = os.fork()
    if pid == 0:  # the child: no database, no atexit
        os._exit(0 if metering.pending() == 0 and metering._buffer.thread is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert metering.pending() == 2
    metering.flush()
    assert rows(endpoint).count() == 2


def test_the_flusher_gives_its_connection_back_after_writing(endpoint, settings):
    settings.HUB_USAGE_FLUSH_MS = 50

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()
    meter(endpoint)
    assert wait_for(lambda: rows(endpoint).exists(), 5) < 5
    assert wait_for(lambda: backends() == before, 5) < 5  # CONN_MAX_AGE=0 here: closed after each write


def test_the_database_going_away_during_the_row_by_row_fallback_writes_no_duplicate(endpoint, monkeypatch):
    from django.db import IntegrityError

    insert, calls = metering._insert, []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise IntegrityError("some row is refused")  # → one row at a time
        if len(calls) == 3:
            raise OperationalError("connection lost")  # after the first row was written alone
        insert(batch)

    monkeypatch.setattr(metering, "_insert", flaky)
    for tokens in range(3):
        meter(endpoint, input_tokens=tokens)
    metering.flush()
    assert rows(endpoint).count() == 1 and [r.input_tokens for r in metering._buffer.pending] == [1, 2]
    metering.flush()
    assert sorted(rows(endpoint).values_list("input_tokens", flat=True)) == [0, 1, 2]
