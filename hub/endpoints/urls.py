"""Endpoint routes, included at the root before the HF and catalog routes: OpenAI's /v1/…, the native API under
/api/v1/endpoints…, the HF inference URLs (/endpoints/<owner>/<name>, /models/<owner>/<name>) and the pages."""

from django.urls import path, re_path

from hub.endpoints import api, hf, openai, views

SEG = r"[^/]+"
EP = rf"(?P<owner>{SEG})/(?P<name>{SEG})"


def openai_routes(prefix: str) -> list:
    return [
        re_path(rf"^{prefix}v1/chat/completions/?$", openai.chat_completions),
        re_path(rf"^{prefix}v1/completions/?$", openai.completions),
        re_path(rf"^{prefix}v1/embeddings/?$", openai.embeddings),
        re_path(rf"^{prefix}v1/models/?$", openai.list_models),
    ]


urlpatterns = [
    # OpenAI-compatible, `model` in the body …
    *openai_routes(""),
    re_path(r"^v1/models/(?P<model>.+)$", openai.get_model),
    # … and bound to one endpoint (InferenceClient(model=<endpoint url>).chat_completion posts here).
    *openai_routes(rf"endpoints/{EP}/"),
    *openai_routes(rf"models/{EP}/"),
    # Native REST API.
    path("api/v1/endpoints", api.EndpointListView.as_view()),
    path("api/v1/endpoints/<str:owner>/<str:name>", api.EndpointDetailView.as_view()),
    path("api/v1/endpoints/<str:owner>/<str:name>/pause", api.EndpointActionView.as_view(action="pause")),
    path("api/v1/endpoints/<str:owner>/<str:name>/resume", api.EndpointActionView.as_view(action="resume")),
    path("api/v1/endpoints/<str:owner>/<str:name>/scale", api.EndpointActionView.as_view(action="scale")),
    path("api/v1/endpoints/<str:owner>/<str:name>/usage", api.EndpointUsageView.as_view()),
    path("api/v1/endpoints/<str:owner>/<str:name>/events", api.EndpointEventsView.as_view()),
    # HF inference payloads at a model's URL (the serverless API's shape).
    re_path(rf"^models/{EP}/pipeline/(?P<pipeline>[a-z-]+)$", hf.model_inference),
    re_path(rf"^models/{EP}$", hf.model_inference),
    # Pages; POST to an endpoint's page URL is inference.
    path("endpoints", views.listing, name="endpoints"),
    path("endpoints/new", views.new, name="endpoint-new"),
    re_path(rf"^endpoints/{EP}$", views.detail, name="endpoint"),
    re_path(rf"^endpoints/{EP}/(?P<verb>pause|resume|scale|revision|delete)$", views.action),
]
