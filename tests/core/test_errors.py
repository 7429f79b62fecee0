import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_json_404(api):
    response = api().get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_health(api):
    body = api().get("/api/v1/health").json()
    assert body == {"status": "ok", "database": "postgresql"}


def test_openapi_schema_and_docs_are_served_without_cdn(api):
    schema = api().get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/models/{owner}/{name}/commits".replace("models", "{kind}") in paths or any(
        p.endswith("/commits") for p in paths
    )
    docs = api().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg" not in html


def test_method_not_allowed_is_json(alice_api):
    response = alice_api.put("/api/v1/me")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_security_headers(api):
    response = api().get("/api/v1/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_native_api_does_not_collide_with_hf_or_openai_paths():
    from django.urls import Resolver404, resolve

    for path in ["/api/models/alice/m", "/api/datasets/alice/d", "/api/whoami-v2", "/alice/m/resolve/main/x"]:
        assert resolve(path).func.__module__.startswith("hub.registry.hf.")
    assert resolve("/v1/chat/completions").func.__module__.startswith("hub.endpoints.")  # OpenAI routes
    with pytest.raises(Resolver404):
        resolve("/api/v1/no-such-route")
