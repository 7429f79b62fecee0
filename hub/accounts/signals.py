"""Every user gets a namespace, however it was created (service, admin, createsuperuser)."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from hub.accounts.models import Namespace, User
from hub.core import signals as access_signals

access_signals.connect()  # tokens, users, memberships, repos, endpoints… bump the access stamp


@receiver(post_save, sender=User)
def ensure_user_namespace(sender: type, instance: User, created: bool, **kwargs: object) -> None:
    if created and not Namespace.objects.filter(user=instance).exists():
        Namespace.objects.create(name=instance.username, user=instance)
