"""State changes of accounts: users, organisations, memberships, tokens."""

from __future__ import annotations

import copy as _copy
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.accounts.models import ApiToken, Membership, Namespace, Organisation, Role, TokenRole, User
from hub.core.errors import Conflict, Invalid, NotFound
from hub.core.names import validate_namespace_name
from hub.core.stamp import LookupCache

TOKEN_PREFIX = "hf_"  # huggingface_hub and the hf CLI accept any token; this prefix keeps their hints right
LAST_USED_RESOLUTION = timedelta(seconds=60)  # do not write on every request
_TOKENS = LookupCache()  # sha256 digest → active ApiToken with its user (authenticate_token)


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _namespace_taken(name: str) -> bool:
    return Namespace.objects.filter(name__iexact=name).exists()


@transaction.atomic
def create_user(*, username: str, password: str | None = None, email: str = "", is_staff: bool = False) -> User:
    validate_namespace_name(username, what="username")
    if _namespace_taken(username):
        raise Conflict(f"The name '{username}' is taken.", code="name_taken")
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_staff)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def create_organisation(*, name: str, creator: User | None = None, display_name: str = "") -> Organisation:
    validate_namespace_name(name, what="organisation name")
    if _namespace_taken(name):
        raise Conflict(f"The name '{name}' is taken.", code="name_taken")
    try:
        with transaction.atomic():
            org = Organisation.objects.create(name=name, display_name=display_name)
            Namespace.objects.create(name=name, organisation=org)
    except IntegrityError as exc:
        raise Conflict(f"The name '{name}' is taken.", code="name_taken") from exc
    if creator is not None:
        Membership.objects.create(organisation=org, user=creator, role=Role.ADMIN)
    return org


def set_membership(*, organisation: Organisation, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}.", code="invalid_role")
    membership, _ = Membership.objects.update_or_create(organisation=organisation, user=user, defaults={"role": role})
    return membership


def remove_membership(*, organisation: Organisation, user: User) -> None:
    deleted, _ = Membership.objects.filter(organisation=organisation, user=user).delete()
    if not deleted:
        raise NotFound(f"{user.username} is not a member of {organisation.name}.")


def issue_token(*, user: User, name: str, role: str = TokenRole.READ) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored nor shown again."""
    if role not in TokenRole.values:
        raise Invalid(f"role must be one of {', '.join(TokenRole.values)}.", code="invalid_role")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("token name is required (at most 100 characters).", code="invalid_name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user, name=name, role=role, key_hash=hash_token(plaintext), prefix=plaintext[:8]
    )
    return token, plaintext


def revoke_token(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])  # post_save bumps the access stamp: cached copies die now
    return token


def authenticate_token(plaintext: str) -> ApiToken | None:
    """The active token with this plaintext (its user loaded), or None. Records when it was last used.

    Active tokens are cached per process under the access stamp (hub.core.stamp): revoking the token or
    deactivating its user bumps the stamp, so the very next request sees it. Unknown tokens are never cached."""
    if not plaintext or len(plaintext) > 200:
        return None
    digest = hash_token(plaintext)

    def load() -> ApiToken | None:
        token = ApiToken.objects.select_related("user").filter(key_hash=digest).first()
        # The lookup is by an indexed hash of a high-entropy secret; compare again in constant time anyway.
        if token is None or not hmac.compare_digest(token.key_hash, digest):
            return None
        if token.revoked_at is not None or not token.user.is_active:
            return None
        return token

    token = _TOKENS.get_or_load(digest, load)
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # bookkeeping: no stamp bump
        token.last_used_at = now  # on the cached row too, so this process writes once per resolution
    copy = _copy.copy(token)
    copy.user = _copy.copy(token.user)  # callers get their own rows; the cached ones stay as loaded
    return copy
