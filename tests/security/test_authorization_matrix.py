"""The authorisation matrix: every route the hub serves × personas × public/private resources.

Invariants checked on every generated case (each request runs in a savepoint that is rolled back):
  1. nothing answers 5xx;
  2. a private repo answers those who cannot read it exactly as a repo that does not exist (same status, same
     body but for the name) and never 2xx: its existence does not leak (a 403 only where a missing repo gets
     the same 403, e.g. a read token refused before any lookup);
  3. those who can read a private repo get the same status as for its public twin (privacy changes nothing
     for them);
  4. an unsafe method by someone who may not write (a read-role member, an outsider, an anonymous caller, a read
     token) changes no row, and a read token gets 403 (or 405) on every write;
  5. no response to someone who cannot read a private repo mentions any private repo's name.
"""

from __future__ import annotations

import re

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, transaction

from tests.security.conftest import CASES, PRIVATE_MARK, can_read, can_write
from tests.security.routes import (
    DEFAULT_PARAMS,
    EXCLUDED,
    ROUTES,
    SAFE,
    all_patterns,
    build_url,
    params_of,
    repo_type_of,
)  # fmt: skip

PATTERNS = {p.key: p for p in all_patterns()}
KIND = {"model": "models", "dataset": "datasets"}
_CSRF_VALUE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def test_every_route_is_covered_or_excluded():
    unknown = sorted(set(PATTERNS) - ROUTES.keys() - EXCLUDED.keys())
    assert not unknown, "Routes missing from tests/security/routes.py (add each to ROUTES or EXCLUDED): " + ", ".join(
        unknown
    )
    stale = sorted(ROUTES.keys() - PATTERNS.keys())
    assert not stale, f"ROUTES lists patterns the hub no longer serves: {stale}"


@pytest.fixture
def no_rate_limits(settings):
    for name in ("HUB_RATE_LOGIN", "HUB_RATE_LOGIN_IP", "HUB_RATE_SIGNUP", "HUB_RATE_TOKENS"):
        setattr(settings, name, "")


def _values(pattern, resource, world, persona) -> dict[str, str]:
    route = ROUTES[pattern.key]
    values = dict(DEFAULT_PARAMS)
    if persona.user is not None:
        values["token_id"] = str(world.tokens[persona.name])
    values |= route.params
    if resource is not None:
        values |= {"owner": resource.owner, "name": resource.name, "kind": KIND[resource.type], "sha": resource.head}
    return values


def _request(client, method: str, url: str, body: str | None):
    if method in SAFE:
        return getattr(client, method.lower())(url)
    if body is None:
        content_type, data = "application/json", ""
    elif body == "blob-bytes":
        content_type, data = "application/octet-stream", b"some bytes"
    elif body.startswith("{"):
        content_type, data = "application/json", body
    else:
        content_type, data = "application/x-www-form-urlencoded", body
    return getattr(client, method.lower())(url, data=data, content_type=content_type)


def _body(response, *names: str) -> bytes:
    if getattr(response, "streaming", False):
        # Close without letting request_finished close the test's database connection (the test client
        # disconnects that handler only while it runs); streams (SSE) may never end, so they are not read.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
        return b"<stream>"
    content = _CSRF_VALUE.sub(b"", response.content)
    for name in names:
        content = content.replace(name.encode(), b"<REPO>")
    return content


class Run:
    """Sends one case in a rolled-back savepoint; records what it saw."""

    def __init__(self, world, fingerprint):
        self.world = world
        self.fingerprint = fingerprint
        self.failures: list[str] = []

    def send(self, persona, method: str, url: str, body: str | None, *, check_writes: bool):
        CASES["count"] += 1
        with transaction.atomic():
            before = self.fingerprint() if check_writes else None
            response = _request(persona.client(), method, url, body)
            content = _body(response)
            if check_writes and self.fingerprint() != before:
                self.fail(persona, method, url, response, "changed the database")
            transaction.set_rollback(True)
        # 503 is an honest answer (no worker, endpoint not running); any other 5xx is a bug.
        if response.status_code >= 500 and response.status_code != 503:
            self.fail(persona, method, url, response, "server error")
        return response, content

    def fail(self, persona, method, url, response, why: str) -> None:
        text = b"" if getattr(response, "streaming", False) else response.content[:200]
        self.failures.append(f"{persona.name} {method} {url} → {response.status_code} {why}: {text!r}")


def _resources(pattern, world):
    fixed = repo_type_of(pattern)
    return [r for r in world.resources if fixed is None or r.type == fixed]


@pytest.mark.parametrize("key", sorted(k for k in ROUTES if k in PATTERNS))
def test_route(key, world, fingerprint, no_rate_limits):
    pattern, route = PATTERNS[key], ROUTES[key]
    run = Run(world, fingerprint)
    assert params_of(pattern) <= set(DEFAULT_PARAMS) | {"kind", "sha"}, f"no value for {params_of(pattern)}"
    if route.scope == "repo":
        _repo_cases(run, pattern, route, world)
    else:
        _other_cases(run, pattern, route, world)
    assert not run.failures, "\n".join(run.failures[:20])


def _repo_cases(run: Run, pattern, route, world) -> None:
    for resource in _resources(pattern, world):
        ghost = world.ghost(resource)
        twin = world.twin(resource)
        for persona in world.personas.values():
            for method in route.methods:
                safe = method in SAFE
                read_only = method in route.read_only_posts
                if not safe and not read_only and can_write(persona, resource):
                    continue  # members who may write are not the question here
                if safe and persona.name == "writer":
                    continue  # reads as a writer are reads as the admin
                url = build_url(pattern, _values(pattern, resource, world, persona))
                may_post = method in route.reader_posts and can_read(persona, resource) and not persona.read_only
                response, content = run.send(persona, method, url, route.body, check_writes=not safe and not may_post)
                status = response.status_code
                if not can_read(persona, resource):
                    ghost_url = build_url(pattern, _values(pattern, ghost, world, persona))
                    ghost_response, ghost_content = run.send(persona, method, ghost_url, route.body,
                                                             check_writes=not safe)  # fmt: skip
                    same = status == ghost_response.status_code and _body(response, resource.name) == _body(
                        ghost_response, ghost.name
                    )
                    if not same:
                        run.fail(
                            persona,
                            method,
                            url,
                            response,
                            f"differs from a missing repo ({ghost_response.status_code})",
                        )
                    if 200 <= status < 300:
                        run.fail(persona, method, url, response, "private repo not hidden")
                    continue
                if resource.private and safe:
                    twin_url = build_url(pattern, _values(pattern, twin, world, persona))
                    twin_response, _ = run.send(persona, method, twin_url, route.body, check_writes=False)
                    if twin_response.status_code != status:
                        run.fail(persona, method, url, response, f"private twin answered {twin_response.status_code}")
                if not resource.private and not _sees_all_private(persona) and PRIVATE_MARK.encode() in content:
                    run.fail(persona, method, url, response, "mentions a private repo")
                if not safe and not read_only:
                    if persona.read_only and status not in (403, 405):
                        run.fail(persona, method, url, response, "read token write not refused with 403")
                    if method not in route.reader_posts and 200 <= status < 300:
                        run.fail(persona, method, url, response, "write by a non-writer succeeded")


def _sees_all_private(persona) -> bool:
    """Members of acme and carol can read some private repo; only outsiders and anonymous see none at all."""
    return persona.name not in ("outsider", "anonymous")


def _other_cases(run: Run, pattern, route, world) -> None:
    for persona in world.personas.values():
        for method in route.methods:
            safe = method in SAFE
            read_only = method in route.read_only_posts
            anonymous = persona.user is None
            url = build_url(pattern, _values(pattern, None, world, persona))
            writer_account = not anonymous and not persona.read_only
            if not safe and not read_only and writer_account and route.scope != "signed":
                continue  # an account with a write token acting on its own things: allowed, not the question
            if not safe and anonymous and method in route.open_posts:
                continue
            response, content = run.send(persona, method, url, route.body, check_writes=not safe)
            status = response.status_code
            if not _sees_all_private(persona) and PRIVATE_MARK.encode() in _body(response, "acme/secret-model"):
                run.fail(persona, method, url, response, "mentions a private repo")
            if not safe and not read_only and persona.read_only and status not in (401, 403, 405):
                run.fail(persona, method, url, response, "read token write not refused")
            if route.scope == "owned" and anonymous and 200 <= status < 300 and method not in route.open_posts:
                run.fail(persona, method, url, response, "anonymous access to an account's things")


def test_admin_is_staff_only(world):
    for persona in world.personas.values():
        response = persona.client().get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"], persona.name


@pytest.mark.parametrize("persona_name", ["anonymous", "outsider"])
def test_counts_and_lineage_leave_private_repos_out(world, persona_name):
    client = world.personas[persona_name].client()
    public_models = sum(1 for r in world.resources if r.type == "model" and not r.private)
    assert client.get("/api/v1/models?limit=100").json()["count"] == public_models
    assert len(client.get("/api/models?author=acme").json()) == 1
    lineage = client.get("/api/v1/models/acme/open-model/lineage").json()
    assert lineage["children"] == [] and lineage["children_counts"] == {}  # its only child is private
    page = client.get("/models?q=model", HTTP_ACCEPT="text/html").content.decode()
    assert "open-model" in page and PRIVATE_MARK not in page
    found = sorted(r["id"] for r in client.get("/api/models?search=model").json())
    assert found == ["acme/open-model", "carol/open-model"]
    members = world.personas["reader"].client()
    assert members.get("/api/v1/models/acme/open-model/lineage").json()["children_counts"] == {"finetune": 1}
