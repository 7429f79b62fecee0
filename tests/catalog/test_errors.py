"""Web pages answer HTML error pages to browsers; the APIs and protocol routes keep JSON."""

import pytest

pytestmark = pytest.mark.django_db

BROWSER = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_unknown_page_is_html_for_browsers(client):
    response = client.get("/a/b/c/d", **BROWSER)
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert "Not found" in response.content.decode() and 'href="/models"' in response.content.decode()


def test_api_and_protocol_errors_stay_json(client):
    for url in ("/api/v1/nope", "/api/models/nobody/nothing/tree/main", "/nobody/nothing/resolve/main/x.json"):
        response = client.get(url, **BROWSER)
        assert response.status_code in (401, 404) and response["Content-Type"].startswith("application/json"), url


def test_clients_without_html_get_json(client):
    response = client.get("/a/b/c/d")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_error_handlers_render(rf):
    from hub.core import views

    assert views.server_error(rf.get("/models", **BROWSER)).status_code == 500
    assert b"Server error" in views.server_error(rf.get("/models", **BROWSER)).content
    assert views.server_error(rf.get("/api/v1/x", **BROWSER))["Content-Type"] == "application/json"
    assert views.bad_request(rf.get("/x", **BROWSER)).status_code == 400
