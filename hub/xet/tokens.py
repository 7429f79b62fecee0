"""Xet access tokens and self-authorising data URLs, both signed with the hub's SECRET_KEY (nothing stored).

An access token names a repo, a scope ("read" or "write") and, for read tokens, the tree (snapshot) whose files
it may reconstruct. It starts with "xet_" so that the bearer-token middleware leaves it to the CAS views.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

PREFIX = "xet_"
READ, WRITE = "read", "write"
_SALT = "hub.xet.token"
_FETCH_SALT = "hub.xet.fetch"


def token_ttl() -> int:
    return int(getattr(settings, "XET_TOKEN_TTL", 3600))


def fetch_ttl() -> int:
    return int(getattr(settings, "XET_FETCH_URL_TTL", 3600))


@dataclass(frozen=True)
class XetToken:
    user_id: int | None
    repo_id: int
    scope: str
    tree_id: str | None
    expires: int

    @property
    def can_write(self) -> bool:
        return self.scope == WRITE


def issue(*, user_id: int | None, repo_id: int, scope: str, tree_id: str | None = None) -> tuple[str, int]:
    expires = int(time.time()) + token_ttl()
    payload = {"u": user_id, "r": repo_id, "s": scope, "t": tree_id, "x": expires}
    return PREFIX + signing.dumps(payload, salt=_SALT, compress=True), expires


def parse(token: str | None) -> XetToken | None:
    """The token's claims if it is ours, intact and unexpired; else None."""
    if not token or not token.startswith(PREFIX) or len(token) > 1000:
        return None
    try:
        data = signing.loads(token[len(PREFIX) :], salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or int(data.get("x", 0)) < time.time():
        return None
    if data.get("s") not in (READ, WRITE) or not isinstance(data.get("r"), int):
        return None
    return XetToken(data.get("u"), data["r"], data["s"], data.get("t"), int(data["x"]))


def _fetch_signature(xorb_hash: str, start: int, end: int, expires: int) -> str:
    return salted_hmac(_FETCH_SALT, f"{xorb_hash}:{start}:{end}:{expires}", algorithm="sha256").hexdigest()[:40]


def fetch_query(xorb_hash: str, start: int, end: int) -> str:
    """Query string that authorises reading bytes [start, end] (inclusive) of one xorb until it expires."""
    expires = int(time.time()) + fetch_ttl()
    return f"r={start}-{end}&e={expires}&s={_fetch_signature(xorb_hash, start, end, expires)}"


def check_fetch(xorb_hash: str, byte_range: str, expires: str, signature: str) -> tuple[int, int] | None:
    """The (start, end inclusive) range a fetch URL authorises, or None if it is forged or expired."""
    try:
        start_s, end_s = byte_range.split("-", 1)
        start, end, exp = int(start_s), int(end_s), int(expires)
    except (ValueError, AttributeError):
        return None
    if exp < time.time() or start < 0 or end < start:
        return None
    if not constant_time_compare(signature or "", _fetch_signature(xorb_hash, start, end, exp)):
        return None
    return start, end
