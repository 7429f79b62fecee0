"""Pickle scans of committed files: run once per blob after a commit lands, read by the API and the pages.

A scan never unpickles anything (hub.security.pickles walks opcodes). Blobs are content-addressed, so a file
committed to many repos is scanned once. Files committed before scanning existed, or whose scan was lost,
are scanned lazily the first time a listing asks (at most LAZY_SCANS_PER_READ per request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from hub.security import pickles
from hub.security.models import PickleScan, ScanStatus

log = logging.getLogger(__name__)
LAZY_SCANS_PER_READ = 20


def scan_blob(sha256: str) -> PickleScan:
    """Scan one stored blob and record the result (re-scanning replaces the previous row)."""
    from hub.registry import storage

    try:
        with storage.open_blob(sha256) as f:
            result = pickles.scan(f)
        values = {
            "status": result.status,
            "imports": [i.as_dict() for i in result.imports],
            "message": result.message[:500],
        }
    except Exception as exc:  # noqa: BLE001 - a scan must never break the commit or the page that asked
        log.exception("pickle scan of blob %s failed", sha256)
        values = {"status": ScanStatus.ERROR, "imports": [], "message": f"scan failed ({exc.__class__.__name__})"}
    scan, _ = PickleScan.objects.update_or_create(sha256=sha256, defaults=values)
    return scan


def scan_committed_files(files: Mapping[str, str]) -> dict[str, PickleScan]:
    """Scan the pickle-type files among {path: sha256} whose blob has no scan yet. Called after a commit lands."""
    wanted = {sha for path, sha in files.items() if pickles.is_pickle_path(path)}
    if not wanted:
        return {}
    done = {s.sha256: s for s in PickleScan.objects.filter(sha256__in=wanted)}
    for sha in sorted(wanted - done.keys()):
        done[sha] = scan_blob(sha)
    return done


def scans_for(files: Iterable[tuple[str, str]], *, lazy: bool = True) -> dict[str, PickleScan]:
    """{sha256: scan} for the pickle-type files among (path, sha256) pairs; missing scans run now when `lazy`."""
    wanted = {sha for path, sha in files if pickles.is_pickle_path(path)}
    if not wanted:
        return {}
    found = {s.sha256: s for s in PickleScan.objects.filter(sha256__in=wanted)}
    if lazy:
        for sha in sorted(wanted - found.keys())[:LAZY_SCANS_PER_READ]:
            found[sha] = scan_blob(sha)
    return found


def hf_security_status(scan: PickleScan | None) -> dict | None:
    """The `securityFileStatus` of the HF API (huggingface_hub reads it into RepoFile.security)."""
    if scan is None:
        return None
    return {
        "status": scan.status,
        "avScan": None,
        "pickleImportScan": {"highestSafetyLevel": highest_safety_level(scan), "imports": scan.imports},
    }


def api_security(scan: PickleScan | None) -> dict | None:
    """The `security` field of the native API's tree entries."""
    if scan is None:
        return None
    return {
        "status": scan.status,
        "highest_safety_level": highest_safety_level(scan),
        "imports": scan.imports,
        "message": scan.message,
    }


def highest_safety_level(scan: PickleScan) -> str:
    levels = {item.get("safety") for item in scan.imports}
    for level in (pickles.DANGEROUS, pickles.SUSPICIOUS):
        if level in levels:
            return level
    return pickles.INNOCUOUS
