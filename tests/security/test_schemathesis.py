"""Schemathesis against the native API's OpenAPI schema (/api/schema/): generated requests, fixed seed, bounded
time, and not one server error. Runs in-process through the WSGI app, inside each test's transaction."""

from __future__ import annotations

import math

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from hub.wsgi import application
from tests.security.conftest import FUZZ

MIN_CASES = 1000
# Needs a live Celery worker and waits for it: exercised by tests/workers, not by fuzzing.
SKIPPED = {"POST /api/v1/health/worker"}

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
OPERATIONS = [r.ok() for r in schema.get_all_operations() if r.ok().label not in SKIPPED]
EXAMPLES = math.ceil(MIN_CASES / len(OPERATIONS)) + 1


def test_the_budget_reaches_the_minimum():
    assert len(OPERATIONS) * EXAMPLES >= MIN_CASES


@pytest.fixture
def keep_connection():
    """Requests through the WSGI app would close the test's connection when they finish (as Django's test
    client avoids by the same means)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, keep_connection, make_user, make_token, make_repo):
    """A write token of a user who owns a repo and an organisation, so that generated names sometimes exist."""
    from hub.accounts import services

    user = make_user("fuzzer")
    services.create_organisation(name="fuzzorg", creator=user)
    make_repo(user, "model", files={"README.md": b"---\nlicense: mit\n---\n# m\n", "config.json": b"{}"})
    return make_token(user, "write")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # a fixed seed: the same cases on every run
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, token):
    if case.operation.label in SKIPPED:
        return
    FUZZ["count"] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])
