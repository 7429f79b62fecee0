"""Validation of names that appear in URLs: users, organisations, repos."""

from __future__ import annotations

import re

from hub.core.errors import Invalid

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_NAME_LENGTH = 96


# Top-level page URLs: a user or organisation with one of these names would be shadowed by the page.
# ('admin' stays allowed: the admin site lives under /admin/, and the bootstrap user is called admin.)
RESERVED_NAMES = frozenset(
    ["api", "datasets", "docs", "endpoints", "login", "logout", "models", "new", "organizations", "settings",
     "signup", "spaces", "static", "v1", "xet"]
)  # fmt: skip


def validate_namespace_name(name: object, *, what: str = "name") -> str:
    """A user or organisation name: a valid name that no top-level page uses."""
    validate_name(name, what=what)
    if str(name).lower() in RESERVED_NAMES:
        raise Invalid(f"'{name}' is reserved; choose another {what}.", code="reserved_name")
    return str(name)


def validate_name(name: object, *, what: str = "name") -> str:
    """Letters, digits, '-', '_', '.'; at most 96 characters; no '--' or '..'; no '-' or '.' at either end."""
    if not isinstance(name, str) or not name:
        raise Invalid(f"{what} is required.", code="invalid_name")
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"{what} is longer than {MAX_NAME_LENGTH} characters.", code="invalid_name")
    if not _NAME_RE.match(name):
        raise Invalid(f"{what} may contain only letters, digits, '-', '_' and '.'.", code="invalid_name")
    if "--" in name or ".." in name:
        raise Invalid(f"{what} may not contain '--' or '..'.", code="invalid_name")
    if name[0] in "-." or name[-1] in "-.":
        raise Invalid(f"{what} may not start or end with '-' or '.'.", code="invalid_name")
    return name
