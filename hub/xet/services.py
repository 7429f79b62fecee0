"""Hooks the HF protocol layer calls. (Stub until the Xet CAS lands.)"""

from __future__ import annotations


def xet_hashes_for(sha256s: list[str]) -> dict[str, str]:
    """Xet file hash for each sha256 whose content is stored as Xet chunks (absent: plain blob)."""
    return {}
