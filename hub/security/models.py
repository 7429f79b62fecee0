"""Results of scanning pickle-based files, one row per blob (content-addressed: scanned once, whatever the repo)."""

from __future__ import annotations

from django.db import models


class ScanStatus(models.TextChoices):
    SAFE = "safe", "safe"
    UNSAFE = "unsafe", "unsafe"
    ERROR = "error", "error"


class PickleScan(models.Model):
    sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=ScanStatus.choices)
    imports = models.JSONField(default=list, blank=True, help_text="[{module, name, safety}], sorted")
    message = models.CharField(max_length=500, blank=True, help_text="Why the scan could not finish, if it did not")
    scanned_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.status}"
