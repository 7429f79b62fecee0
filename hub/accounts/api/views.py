"""Native REST API for accounts: the caller, tokens, organisations and members."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.accounts import selectors, services
from hub.accounts.api import serializers as s
from hub.accounts.models import ApiToken, Role
from hub.core.errors import Forbidden, NotFound
from hub.core.permissions import IsAuthenticated


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MeSerializer, summary="Who am I")
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        orgs = [{"name": org.name, "role": role} for org, role in selectors.user_organisations(request.user)]
        return Response(
            {
                "username": request.user.username,
                "email": request.user.email,
                "is_admin": request.user.is_superuser,
                "token_role": token.role if token else None,
                "orgs": orgs,
            }
        )


class TokenListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.TokenSerializer(many=True), summary="List my tokens")
    def get(self, request):
        return Response(s.TokenSerializer(request.user.tokens.all(), many=True).data)

    @extend_schema(request=s.TokenCreateSerializer, responses={201: s.IssuedTokenSerializer}, summary="Issue a token")
    def post(self, request):
        data = _valid(s.TokenCreateSerializer, request.data)
        token, plaintext = services.issue_token(user=request.user, name=data["name"], role=data["role"])
        body = s.TokenSerializer(token).data | {"token": plaintext}
        return Response(body, status=201)


class TokenDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def _token(self, request, token_id: int) -> ApiToken:
        token = request.user.tokens.filter(pk=token_id).first()
        if token is None:
            raise NotFound("No such token.")
        return token

    @extend_schema(responses=s.TokenSerializer, summary="Get one of my tokens")
    def get(self, request, token_id: int):
        return Response(s.TokenSerializer(self._token(request, token_id)).data)

    @extend_schema(responses=s.TokenSerializer, summary="Revoke a token")
    def delete(self, request, token_id: int):
        token = services.revoke_token(token=self._token(request, token_id))
        return Response(s.TokenSerializer(token).data)


class OrganisationListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.OrganisationSerializer(many=True), summary="Organisations I belong to")
    def get(self, request):
        orgs = [org for org, _ in selectors.user_organisations(request.user)]
        return Response(s.OrganisationSerializer(orgs, many=True).data)

    @extend_schema(request=s.OrganisationCreateSerializer, responses={201: s.OrganisationSerializer})
    def post(self, request):
        data = _valid(s.OrganisationCreateSerializer, request.data)
        org = services.create_organisation(name=data["name"], display_name=data["display_name"], creator=request.user)
        return Response(s.OrganisationSerializer(org).data, status=201)


def _org_for(request, name: str, needed: str):
    org = selectors.get_organisation(name)
    role = selectors.namespace_role(request.user, org.namespace)
    if role is None:
        raise NotFound(f"No organisation named '{name}'.")
    if not selectors.has_role(role, needed):
        raise Forbidden(f"You need the {needed} role in {org.name}.")
    return org


class OrganisationDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.OrganisationSerializer)
    def get(self, request, name: str):
        return Response(s.OrganisationSerializer(_org_for(request, name, Role.READ)).data)


class MemberListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MemberSerializer(many=True), summary="Members and their roles")
    def get(self, request, name: str):
        org = _org_for(request, name, Role.READ)
        members = org.memberships.select_related("user").order_by("user__username")
        return Response([{"username": m.user.username, "role": m.role} for m in members])

    @extend_schema(request=s.MemberSerializer, responses=s.MemberSerializer, summary="Add a member or change a role")
    def post(self, request, name: str):
        org = _org_for(request, name, Role.ADMIN)
        data = _valid(s.MemberSerializer, request.data)
        user = selectors.get_user(data["username"])
        with transaction.atomic():
            membership = services.set_membership(organisation=org, user=user, role=data["role"])
        return Response({"username": user.username, "role": membership.role})


class MemberDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None}, summary="Remove a member")
    def delete(self, request, name: str, username: str):
        org = _org_for(request, name, Role.ADMIN)
        services.remove_membership(organisation=org, user=selectors.get_user(username))
        return Response(status=204)
