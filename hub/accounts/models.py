"""Users, organisations with roles, the namespaces they own, and API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    READ = "read", "read"
    WRITE = "write", "write"
    ADMIN = "admin", "admin"


ROLE_RANK = {Role.READ: 1, Role.WRITE: 2, Role.ADMIN: 3}


class User(AbstractUser):
    pass


class Organisation(models.Model):
    name = models.CharField(max_length=96, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="organisations")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.READ)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class Namespace(models.Model):
    """The owner part of `owner/name`: exactly one user or one organisation; names unique across both."""

    name = models.CharField(max_length=96)
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace")
    organisation = models.OneToOneField(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), name="namespace_name_unique_ci"),
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, organisation__isnull=True))
                | (models.Q(user__isnull=True, organisation__isnull=False)),
                name="namespace_has_one_owner",
            ),
        ]

    @property
    def is_organisation(self) -> bool:
        return self.organisation_id is not None

    def __str__(self) -> str:
        return self.name


class TokenRole(models.TextChoices):
    READ = "read", "read"
    WRITE = "write", "write"


class ApiToken(models.Model):
    """A bearer token. Only its sha256 is stored; the plaintext is shown once, when it is issued."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=8, choices=TokenRole.choices, default=TokenRole.READ)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="First characters, to recognise a token.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
