"""Reads over accounts: who may do what in which namespace."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from hub.accounts.models import ROLE_RANK, Membership, Namespace, Organisation, Role, User
from hub.core.errors import NotFound


def get_namespace(name: str) -> Namespace:
    if not isinstance(name, str) or "\x00" in name:
        raise NotFound("No such user or organisation.")
    namespace = Namespace.objects.select_related("user", "organisation").filter(name__iexact=name).first()
    if namespace is None:
        raise NotFound(f"No user or organisation named '{name}'.")
    return namespace


def get_user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user named '{username}'.")
    return user


def get_organisation(name: str) -> Organisation:
    org = Organisation.objects.filter(name__iexact=name).first()
    if org is None:
        raise NotFound(f"No organisation named '{name}'.")
    return org


def namespace_role(user: User | AnonymousUser, namespace: Namespace) -> str | None:
    """The user's role in a namespace: admin of their own, their membership role in an org, else None."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    if namespace.user_id is not None:
        return Role.ADMIN if namespace.user_id == user.pk else None
    membership = Membership.objects.filter(organisation_id=namespace.organisation_id, user=user).first()
    return membership.role if membership else None


def has_role(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def readable_namespace_ids(user: User | AnonymousUser) -> list[int] | None:
    """Namespaces whose private repos the user may read; None means all (superuser)."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return None
    ids = list(Namespace.objects.filter(user=user).values_list("id", flat=True))
    org_ids = Membership.objects.filter(user=user).values_list("organisation_id", flat=True)
    ids += list(Namespace.objects.filter(organisation_id__in=org_ids).values_list("id", flat=True))
    return ids


def user_organisations(user: User) -> list[tuple[Organisation, str]]:
    memberships = Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name")
    return [(m.organisation, m.role) for m in memberships]
