"""Sign in, create a token and revoke it, in headless Chromium against a live server."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_create_and_revoke_token(live_server, page, make_user):  # noqa: F811
    make_user("alice")
    page.goto(f"{live_server.url}/settings/tokens")
    assert "/login" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("Wrong username")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-battery")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/settings/tokens$"))
    page.fill("#token-name", "laptop")
    page.select_option("#token-role", "write")
    page.click("text=Create token")
    token = page.inner_text("#new-token-value").strip()
    assert token.startswith("hf_")
    row = page.locator("tr[data-token=laptop]")
    assert "active" in row.inner_text()
    page.screenshot(path="test-output/screenshots/token-created.png")
    row.get_by_role("button", name="Revoke laptop").click()
    assert "revoked" in page.locator("tr[data-token=laptop]").inner_text()
    page.reload()
    assert token not in page.content()  # shown once, never again


def test_sign_out(live_server, page, make_user):  # noqa: F811
    make_user("bob")
    page.goto(f"{live_server.url}/login")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/settings/tokens$"))
    page.click("text=Sign out bob")
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("link", name="Sign in").is_visible()
