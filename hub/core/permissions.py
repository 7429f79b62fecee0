"""Permissions enforced in one place for the native API."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from hub.accounts.models import TokenRole
from hub.core.auth import token_role
from hub.core.errors import Forbidden


class TokenRolePermission(BasePermission):
    """Anyone may read what is public (views narrow further); read tokens never write."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if token_role(request) == TokenRole.READ:
            raise Forbidden("This token is read-only; use a write token to make changes.", code="read_only_token")
        return True


class IsAuthenticated(TokenRolePermission):
    def has_permission(self, request, view) -> bool:
        from rest_framework.exceptions import NotAuthenticated

        if not (request.user and request.user.is_authenticated):
            raise NotAuthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
        return super().has_permission(request, view)
