from django.urls import path

from hub.accounts.api import views

urlpatterns = [
    path("me", views.MeView.as_view()),
    path("tokens", views.TokenListView.as_view()),
    path("tokens/<int:token_id>", views.TokenDetailView.as_view()),
    path("orgs", views.OrganisationListView.as_view()),
    path("orgs/<str:name>", views.OrganisationDetailView.as_view()),
    path("orgs/<str:name>/members", views.MemberListView.as_view()),
    path("orgs/<str:name>/members/<str:username>", views.MemberDetailView.as_view()),
]
