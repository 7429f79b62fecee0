"""Web pages. Included last in hub/urls.py: /<owner>/<name> patterns must not shadow the API or HF routes."""

from django.urls import path

from hub.catalog import views

urlpatterns = [
    path("", views.home, name="home"),
]
