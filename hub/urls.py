"""Top-level routes. Native API under /api/v1/ so it never collides with the HF protocol's /api/models/…,
/api/datasets/…, /api/whoami-v2, /{owner}/{name}/resolve/… or OpenAI's /v1/…."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub.accounts import views as account_views
from hub.core import views as core_views

api_v1 = [
    path("health", core_views.HealthView.as_view()),
    path("health/worker", core_views.WorkerHealthView.as_view()),
    path("", include("hub.accounts.api.urls")),
    path("", include("hub.registry.api.urls")),
    path("", include("hub.datasets.urls")),
    path("", include("hub.jobs.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),  # no inline script
    path("login", account_views.LoginView.as_view(), name="login"),
    path("logout", account_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens", account_views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke", account_views.revoke_token, name="revoke-token"),
    path("", include("hub.jobs.page_urls")),
    path("", include("hub.endpoints.urls")),  # OpenAI /v1/… and HF inference routes
    path("", include("hub.xet.urls")),
    path("", include("hub.registry.hf.urls")),
    path("", include("hub.catalog.urls")),
]

handler400 = "hub.core.views.bad_request"
handler403 = "hub.core.views.permission_denied"
handler404 = "hub.core.views.not_found"
handler500 = "hub.core.views.server_error"
