"""Xet routes. Included at the URL root before the HF protocol routes (the token routes live under /api/…)."""

from django.urls import path, re_path

from hub.xet import views

REPO = r"api/(?P<kind>models|datasets)/(?P<owner>[^/]+)/(?P<name>[^/]+)"

urlpatterns = [
    re_path(rf"^{REPO}/xet-write-token/(?P<rev>.+)$", views.write_token),
    re_path(rf"^{REPO}/xet-read-token/(?P<rev>.+)$", views.read_token),
    path("xet/cas/v1/xorbs/<str:prefix>/<str:xorb_hash>", views.upload_xorb),
    path("xet/cas/v1/shards", views.upload_shard),
    path("xet/cas/v1/reconstructions/<str:file_hash>", views.reconstruction),
    path("xet/cas/v1/chunks/<str:prefix>/<str:chunk_hash>", views.dedup_query),
    path("xet/data/<str:xorb_hash>", views.fetch_xorb),
    path("v1/telemetry", views.telemetry),
]
