"""`manage.py bootstrap`: the embedded first run. Creates the admin user once and issues a write token for it."""

from __future__ import annotations

import os
import secrets

from django.core.management.base import BaseCommand, CommandError

from hub.accounts import services
from hub.accounts.models import User
from hub.core.errors import HubError


class Command(BaseCommand):
    help = "Create the admin user if missing (password from HUB_ADMIN_PASSWORD or generated) and print a write token."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("HUB_ADMIN_USER", "admin"))

    def handle(self, *args, username: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            password = os.environ.get("HUB_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            try:
                user = services.create_user(username=username, password=password, is_staff=True)
            except HubError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Created admin user '{username}' with password: {password}")
        else:
            self.stdout.write(f"Admin user '{username}' exists (password unchanged).")
        _, plaintext = services.issue_token(user=user, name="make run", role="write")
        self.stdout.write(f"Write token for '{username}': {plaintext}")
