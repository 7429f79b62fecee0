"""Token and endpoint lookups are cached under the access stamp (hub.core.stamp): a repeated lookup reads nothing
from the database, and every change that could alter its answer takes effect on the very next lookup.

These tests commit for real (transaction=True): the stamp moves in Redis only when a change commits."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from hub.accounts import services as accounts
from hub.core import stamp
from hub.core.errors import NotFound
from hub.endpoints import selectors
from hub.endpoints import services as endpoints
from hub.endpoints.models import Endpoint, State
from hub.registry.services.repos import set_private

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_caches(settings):
    settings.HUB_LOOKUP_CACHE_S = 5
    stamp.clear_all()
    stamp._redis_down_until = 0.0
    yield
    stamp.clear_all()
    stamp._redis_down_until = 0.0


@pytest.fixture
def repo(make_repo, alice):
    return make_repo(alice, "minilm", files={"config.json": b"{}"})


@pytest.fixture
def endpoint(alice, repo, make_endpoint):
    """A pending endpoint, whatever serving workers exist: in the full suite the session's worker consumes
    `inference`, so a new endpoint would start initializing (and note_answer would move it to running)."""
    made = make_endpoint(alice, repo)
    Endpoint.objects.filter(pk=made.pk).update(state=State.PENDING)
    stamp.bump()
    made.refresh_from_db()
    return made


def queries(lookup) -> int:
    with CaptureQueriesContext(connection) as captured:
        lookup()
    return len(captured)


def other_process_bumps() -> None:
    """What stamp.bump() does in another web or worker process, seen from this one."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(stamp.redis_key())


def test_a_repeated_token_lookup_does_no_queries(alice, make_token):
    plaintext = make_token(alice)
    first = accounts.authenticate_token(plaintext)
    assert first.user == alice and first.last_used_at is not None
    assert queries(lambda: accounts.authenticate_token(plaintext)) == 0
    again = accounts.authenticate_token(plaintext)
    assert again.user.username == "alice" and again is not first and again.user is not first.user


def test_an_unknown_token_is_not_cached(alice):
    assert accounts.authenticate_token("hf_unknown") is None
    assert queries(lambda: accounts.authenticate_token("hf_unknown")) == 1


def test_revoking_a_token_takes_effect_at_once(alice):
    token, plaintext = accounts.issue_token(user=alice, name="ci")
    assert accounts.authenticate_token(plaintext) is not None
    accounts.revoke_token(token=token)
    assert accounts.authenticate_token(plaintext) is None


def test_deactivating_the_user_takes_effect_at_once(alice, make_token):
    plaintext = make_token(alice)
    assert accounts.authenticate_token(plaintext) is not None
    alice.is_active = False
    alice.save()
    assert accounts.authenticate_token(plaintext) is None


def test_bookkeeping_writes_do_not_bump(alice, make_token, endpoint):
    plaintext = make_token(alice)
    before = stamp.current()
    accounts.authenticate_token(plaintext)  # records last_used_at
    alice.save(update_fields=["last_login"])
    served = selectors.get_endpoint(alice, "alice", "minilm")
    endpoints.note_answer(served)  # records last_request_at
    assert stamp.current() == before
    # The next copy from the cache knows that request was recorded: no write on every request.
    assert queries(lambda: endpoints.note_answer(selectors.get_endpoint(alice, "alice", "minilm"))) == 0


def test_a_repeated_endpoint_lookup_does_no_queries(alice, endpoint):
    found = selectors.get_endpoint(alice, "alice", "minilm")
    assert queries(lambda: selectors.get_endpoint(alice, "Alice", "MiniLM")) == 0
    by_model = selectors.endpoint_for_model(alice, "alice/minilm", "feature-extraction")
    assert queries(lambda: selectors.endpoint_for_model(alice, "alice/minilm", "feature-extraction")) == 0
    assert found.pk == by_model.pk == endpoint.pk
    # Each caller gets its own copy: changing it changes neither the cache nor other callers' copies.
    found.state = State.FAILED
    found.repo.name = "changed"
    again = selectors.get_endpoint(alice, "alice", "minilm")
    assert again.state == endpoint.state and again.repo.name == "minilm"


def test_a_steady_request_does_not_query_tokens_or_endpoints(alice, make_token, api, endpoint):
    client = api(make_token(alice))
    assert client.get("/api/v1/endpoints/alice/minilm").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/endpoints/alice/minilm").status_code == 200
    sql = [q["sql"] for q in captured.captured_queries]
    lookups = ('FROM "accounts_apitoken"', 'FROM "endpoints_endpoint" ', 'FROM "accounts_membership"', "UPDATE")
    assert not [q for q in sql if any(table in q for table in lookups)], sql


def test_not_found_is_not_cached(alice, repo, make_endpoint):
    with pytest.raises(NotFound):
        selectors.get_endpoint(alice, "alice", "minilm")
    make_endpoint(alice, repo)
    assert selectors.get_endpoint(alice, "alice", "minilm").name == "minilm"


def test_pausing_and_deleting_an_endpoint_take_effect_at_once(alice, endpoint):
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PENDING
    endpoints.pause(endpoint=selectors.get_endpoint(alice, "alice", "minilm"), user=alice)
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED
    assert selectors.endpoint_for_model(alice, "alice/minilm", "feature-extraction").state == State.PAUSED
    endpoints.delete(endpoint=endpoint, user=alice)
    with pytest.raises(NotFound):
        selectors.get_endpoint(alice, "alice", "minilm")
    with pytest.raises(NotFound):
        selectors.endpoint_for_model(alice, "alice/minilm", "feature-extraction")


def test_making_the_repo_private_hides_it_at_once(alice, make_user, repo, endpoint):
    bob = make_user("bob")
    assert selectors.get_endpoint(bob, "alice", "minilm").pk == endpoint.pk
    assert selectors.endpoint_for_model(bob, "alice/minilm", "feature-extraction")
    set_private(repo=repo, private=True)
    with pytest.raises(NotFound):
        selectors.get_endpoint(bob, "alice", "minilm")
    with pytest.raises(NotFound):
        selectors.endpoint_for_model(bob, "alice/minilm", "feature-extraction")
    assert selectors.get_endpoint(alice, "alice", "minilm").pk == endpoint.pk


def test_removing_a_membership_takes_effect_at_once(alice, make_user, make_repo, make_endpoint):
    bob = make_user("bob")
    org = accounts.create_organisation(name="acme", creator=alice)
    accounts.set_membership(organisation=org, user=bob, role="read")
    make_endpoint(alice, make_repo(org, "secret", files={"config.json": b"{}"}, private=True), namespace=org.namespace)
    assert selectors.get_endpoint(bob, "acme", "secret").name == "secret"
    accounts.remove_membership(organisation=org, user=bob)
    with pytest.raises(NotFound):
        selectors.get_endpoint(bob, "acme", "secret")


def test_a_bump_in_another_process_invalidates(alice, endpoint):
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PENDING
    # Another process pauses it: the row changes without this process's signals or bump…
    Endpoint.objects.filter(pk=endpoint.pk).update(state=State.PAUSED)
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PENDING
    # …and its bump reaches this process through Redis.
    other_process_bumps()
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED


def test_a_change_rolled_back_is_never_seen(alice, endpoint):
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PENDING
    with pytest.raises(RuntimeError), transaction.atomic():
        endpoints.pause(endpoint=endpoint, user=alice)
        # Inside the changing transaction lookups read its own rows, and cache nothing.
        assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED
        raise RuntimeError("roll back")
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PENDING
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) == 0


def test_entries_expire_after_the_ttl(settings, alice, endpoint):
    settings.HUB_LOOKUP_CACHE_S = 0.2
    selectors.get_endpoint(alice, "alice", "minilm")
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) == 0
    time.sleep(0.3)
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) > 0


def test_zero_turns_caching_off(settings, alice, make_token, endpoint):
    settings.HUB_LOOKUP_CACHE_S = 0
    plaintext = make_token(alice)
    accounts.authenticate_token(plaintext)
    selectors.get_endpoint(alice, "alice", "minilm")
    assert queries(lambda: accounts.authenticate_token(plaintext)) > 0
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) > 0
    assert len(selectors._LOOKUPS) == 0


def test_with_redis_down_lookups_use_the_database(settings, alice, make_token, endpoint):
    plaintext = make_token(alice)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert stamp.current() is None
    assert accounts.authenticate_token(plaintext).user == alice
    assert queries(lambda: accounts.authenticate_token(plaintext)) > 0
    assert selectors.get_endpoint(alice, "alice", "minilm").pk == endpoint.pk
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) > 0
    stamp.bump()  # a change committed while Redis is down does not fail either
    stamp._redis_down_until = 0.0
    Endpoint.objects.filter(pk=endpoint.pk).update(state=State.PAUSED)
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED


def test_without_redis_the_local_stamp_and_a_short_ttl_hold(settings, alice, endpoint):
    settings.HUB_LOOKUP_CACHE_S = None
    settings.CELERY_BROKER_URL = "sqla+sqlite:///unused.sqlite3"
    assert stamp.ttl_s() == 1.0 and stamp.current() is not None
    selectors.get_endpoint(alice, "alice", "minilm")
    assert queries(lambda: selectors.get_endpoint(alice, "alice", "minilm")) == 0
    endpoints.pause(endpoint=endpoint, user=alice)
    assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED


def test_the_cache_is_bounded():
    cache = stamp.LookupCache(max_entries=3)
    now = stamp.current()
    for key in range(5):
        cache.put(key, now, key)
    assert len(cache) == 3 and cache.get(0, now) is None and cache.get(4, now) == 4
    cache.put("none", now, None)
    assert cache.get("none", now) is None and len(cache) == 3


def test_one_request_reads_the_redis_stamp_once(monkeypatch, alice, make_token, endpoint):
    real = stamp._redis()
    reads = []

    class Counting:
        def get(self, key):
            reads.append(key)
            return real.get(key)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(stamp, "_redis", lambda: Counting())
    plaintext = make_token(alice)
    with stamp.request_scope():
        accounts.authenticate_token(plaintext)
        selectors.get_endpoint(alice, "alice", "minilm")
        endpoints.pause(endpoint=endpoint, user=alice)  # a bump in this process counts at once, scope or not
        assert selectors.get_endpoint(alice, "alice", "minilm").state == State.PAUSED
    assert len(reads) == 1
    accounts.authenticate_token(plaintext)  # outside a request: every lookup reads it
    selectors.get_endpoint(alice, "alice", "minilm")
    assert len(reads) == 3


def test_threads_that_miss_together_load_once():
    import threading

    cache = stamp.LookupCache()
    calls, gate = [], threading.Event()

    def load():
        calls.append(1)
        gate.wait(5)
        return "answer"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", load))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # all eight are in: one loading, seven waiting for it
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == ["answer"] * 8 and len(calls) == 1
    assert cache._loading == {}
