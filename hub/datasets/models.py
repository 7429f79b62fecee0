"""What the hub learnt about a data file, cached per content: a blob never changes, so neither does its table."""

from __future__ import annotations

from django.db import models


class TableSummary(models.Model):
    """Schema, row count and preview of one blob read as one format (the same bytes may be named .csv and .tsv)."""

    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=16)
    version = models.PositiveSmallIntegerField(help_text="Reader version; older summaries are recomputed")
    columns = models.JSONField(default=dict, help_text="column → type, in file order")
    rows = models.BigIntegerField(null=True, blank=True, help_text="None when not counted")
    complete = models.BooleanField(default=True, help_text="False when only the start of the file was parsed")
    preview = models.JSONField(default=list)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "format"], name="one_summary_per_blob_format")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.format})"
