"""`manage.py issue_token USERNAME [--role read|write] [--org ORG]`: prints only the new token on stdout."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hub.accounts import services
from hub.accounts.models import Organisation, Role, TokenRole, User
from hub.core.errors import HubError


class Command(BaseCommand):
    help = "Issue an API token for USERNAME, creating the user (and org membership) if missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=TokenRole.values, default=TokenRole.WRITE)
        parser.add_argument("--org", help="Make the user a member of this organisation (created if missing).")
        parser.add_argument("--name", default="cli", help="A name for the token.")

    def handle(self, *args, username: str, role: str, org: str | None, name: str, **options) -> None:
        try:
            with transaction.atomic():
                user = User.objects.filter(username=username).first() or services.create_user(username=username)
                if org:
                    organisation = Organisation.objects.filter(name__iexact=org).first()
                    if organisation is None:
                        organisation = services.create_organisation(name=org, creator=user)
                    elif not organisation.memberships.filter(user=user).exists():
                        services.set_membership(
                            organisation=organisation,
                            user=user,
                            role=Role.WRITE if role == TokenRole.WRITE else Role.READ,
                        )
                _, plaintext = services.issue_token(user=user, name=name, role=role)
        except HubError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(plaintext)
