"""Job routes, included under /api/v1/."""

from django.urls import path

from hub.jobs.api import views

urlpatterns = [
    path("jobs", views.JobListView.as_view()),
    path("jobs/<int:job_id>", views.JobDetailView.as_view()),
    path("jobs/<int:job_id>/cancel", views.JobCancelView.as_view()),
    path("jobs/<int:job_id>/retry", views.JobRetryView.as_view()),
    path("jobs/<int:job_id>/events", views.JobEventsView.as_view()),
    path("jobs/<int:job_id>/events/stream", views.JobStreamView.as_view()),
    path("jobs/<int:job_id>/metrics", views.JobMetricsView.as_view()),
]
