"""{% pickle_badge scans entry %}: the scan result of a pickle-based file, as a badge on the files page."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()

BADGES = {
    "safe": ("badge ok", "Pickle scan: safe", "Imports only what tensors and arrays need"),
    "unsafe": ("badge status-removed", "Pickle scan: unsafe", "Imports {} — loading this file can run code"),
    "error": ("badge status-modified", "Pickle scan: not verified", "The scan could not finish: {}"),
}


@register.simple_tag
def pickle_badge(scans: dict | None, entry) -> str:
    scan = (scans or {}).get(getattr(entry, "sha256", ""))
    if scan is None:
        return ""
    css, label, title = BADGES.get(scan.status, BADGES["error"])
    if scan.status == "unsafe":
        risky = [f"{i['module']}.{i['name']}" for i in scan.imports if i.get("safety") != "innocuous"]
        title = title.format(", ".join(risky[:5]) or "unknown objects")
    elif scan.status == "error":
        title = title.format(scan.message or "unknown reason")
    return format_html(' <span class="{}" data-pickle-scan="{}" title="{}">{}</span>', css, scan.status, title, label)
