"""Job pages, included at the root before the catalog's /<owner>/<name> routes (which would take /jobs/<id>)."""

from django.urls import path

from hub.jobs import views

urlpatterns = [
    path("jobs", views.listing, name="jobs"),
    path("jobs/new", views.new, name="job-new"),
    path("jobs/compress", views.compress, name="job-compress"),
    path("jobs/<int:job_id>", views.detail, name="job"),
]
