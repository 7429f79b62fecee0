"""Saves and deletes that can change an access or routing lookup bump the access stamp (hub.core.stamp).

Writes through queryset .update() send no signal: their services call stamp.bump() themselves. Bookkeeping saves
that change nothing a lookup decides (a token's last use, a login, a repo's new head commit) do not bump.
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from hub.accounts.models import ApiToken, Membership, Namespace, Organisation, User
from hub.core import stamp
from hub.endpoints.models import Endpoint
from hub.registry.models import Repo

# A save with update_fields inside this set does not bump.
IGNORED_FIELDS: dict[type, frozenset[str]] = {
    ApiToken: frozenset({"last_used_at"}),
    User: frozenset({"last_login"}),
    Endpoint: frozenset({"last_request_at"}),
}
# A save with update_fields bumps only when one of these is among them (repos are saved on every commit).
DECIDING_FIELDS: dict[type, frozenset[str]] = {
    Repo: frozenset({"private", "name", "full_name", "namespace", "namespace_id", "type"}),
}
MODELS = (ApiToken, User, Membership, Namespace, Organisation, Repo, Endpoint)


def _saved(sender: type, update_fields: frozenset[str] | None = None, **kwargs: object) -> None:
    if update_fields:
        if update_fields <= IGNORED_FIELDS.get(sender, frozenset()):
            return
        if sender in DECIDING_FIELDS and not update_fields & DECIDING_FIELDS[sender]:
            return
    stamp.bump()


def _deleted(sender: type, **kwargs: object) -> None:
    stamp.bump()


def _members_changed(sender: type, action: str, **kwargs: object) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        stamp.bump()


def connect() -> None:
    for model in MODELS:
        post_save.connect(_saved, sender=model, dispatch_uid=f"access-stamp-save-{model._meta.label}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"access-stamp-delete-{model._meta.label}")
    m2m_changed.connect(_members_changed, sender=Organisation.members.through, dispatch_uid="access-stamp-members")
