"""Security headers, a CSP that the pages really satisfy, CSRF on forms and on sessions, cookie flags."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from hub.security.middleware import CONTENT_CSP, PAGE_CSP

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


@pytest.fixture
def site(alice, make_repo):
    readme = b"---\nlicense: mit\n---\n# Demo\n\n```python\nprint('hi')\n```\n\n<img src=x onerror=alert(1)>\n"
    make_repo(alice, "demo", files={"README.md": readme, "train.py": b"import os\nprint(os.name)\n",
                                    "page.html": b"<script>alert(document.cookie)</script>"})  # fmt: skip
    return alice


PAGES = [
    "/", "/models", "/datasets", "/login", "/signup", "/alice", "/alice/demo", "/alice/demo/tree/main",
    "/alice/demo/blob/main/train.py", "/alice/demo/commits/main", "/alice/demo/lineage", "/alice/demo/upload",
    "/settings/tokens", "/new", "/no-such-owner/no-such-repo",
]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_the_page_policy_and_hold_no_inline_code(site, path):
    client = Client()
    if path in ("/alice/demo/upload", "/settings/tokens", "/new"):
        client.force_login(site)
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 404), path
    assert response["Content-Security-Policy"] == PAGE_CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    assert not INLINE_STYLE.search(html), html[INLINE_STYLE.search(html).start() - 80 :][:200]
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html).group(0)


@pytest.mark.parametrize(
    "path", ["/alice/demo/resolve/main/page.html", "/api/v1/models/alice/demo/files/page.html", "/api/v1/models"]
)
def test_user_files_and_api_responses_are_sandboxed(site, path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_CSP
    assert response["X-Content-Type-Options"] == "nosniff"


def test_api_docs_page_keeps_its_script_out_of_line():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert "script-src" not in response["Content-Security-Policy"]  # default-src 'self' governs scripts
    assert not INLINE_SCRIPT.search(response.content.decode())


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_configured(settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = Client().get("/api/v1/health", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in Client().get("/api/v1/health")


# --- CSRF and cookies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, data",
    [
        ("/login", {"username": "alice", "password": "correct-horse-battery"}),
        ("/signup", {"username": "mallory", "email": "m@example.org", "password": "a-long-passphrase"}),
        ("/settings/tokens", {"name": "stolen", "role": "write"}),
        ("/new", {"type": "model", "owner": "alice", "name": "forged"}),
        ("/alice/demo/like", {}),
        ("/logout", {}),
    ],
)
def test_form_posts_without_the_csrf_token_are_refused(site, path, data):
    from hub.accounts.models import ApiToken
    from hub.registry.models import Like, Repo

    client = Client(enforce_csrf_checks=True)
    client.force_login(site)
    before = (ApiToken.objects.count(), Repo.objects.count(), Like.objects.count())
    response = client.post(path, data)
    assert response.status_code == 403
    assert (ApiToken.objects.count(), Repo.objects.count(), Like.objects.count()) == before


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/api/repos/create", '{"name": "forged"}'),
        ("post", "/api/models/alice/demo/commit/main", '{"key": "header", "value": {"summary": "x"}}\n'),
        ("delete", "/api/models/alice/demo/branch/main", ""),
        ("post", "/api/v1/repos", '{"name": "forged"}'),
    ],
)
def test_a_session_cannot_write_through_csrf_exempt_protocol_views(site, method, path, body):
    """HF protocol views are CSRF-exempt for bearer-token clients; a forged form riding a session is refused."""
    from hub.registry.models import Commit, Repo

    client = Client(enforce_csrf_checks=True)
    client.force_login(site)
    before = (Repo.objects.count(), Commit.objects.count())
    response = getattr(client, method)(path, body, content_type="application/json")
    assert response.status_code == 403, response.content
    assert (Repo.objects.count(), Commit.objects.count()) == before


def test_a_session_with_the_csrf_token_may_use_protocol_views(site):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site)
    csrf = client.get("/settings/tokens").cookies["csrftoken"].value
    response = client.post(
        "/api/repos/create", '{"name": "via-session"}', content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 200, response.content


def test_session_and_csrf_cookie_flags(site):
    client = Client(enforce_csrf_checks=True)
    client.get("/login")
    csrf = client.cookies["csrftoken"]
    response = client.post(
        "/login", {"username": "alice", "password": "correct-horse-battery", "csrfmiddlewaretoken": csrf.value}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert csrf["samesite"] == "Lax"


def test_secure_cookie_flags_follow_the_https_setting(site, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    response = client.post("/login", {"username": "alice", "password": "correct-horse-battery"}, secure=True)
    assert response.cookies["sessionid"]["secure"] is True
