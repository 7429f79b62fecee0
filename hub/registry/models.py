"""The registry's data: repos, content-addressed blobs and trees, immutable commits, refs, lineage."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Upper

from hub.accounts.models import Namespace


class RepoType(models.TextChoices):
    MODEL = "model", "model"
    DATASET = "dataset", "dataset"


class Relation(models.TextChoices):
    FINETUNE = "finetune", "fine-tune"
    ADAPTER = "adapter", "adapter"
    QUANTIZED = "quantized", "quantized"
    MERGE = "merge", "merge"
    DISTILLATION = "distillation", "distillation"
    PRUNED = "pruned", "pruned"


class Repo(models.Model):
    type = models.CharField(max_length=8, choices=RepoType.choices, default=RepoType.MODEL)
    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="repos")
    name = models.CharField(max_length=96)
    full_name = models.CharField(max_length=200, help_text="owner/name, kept in step with namespace and name")
    private = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_modified = models.DateTimeField(auto_now_add=True)
    head_sha = models.CharField(max_length=40, blank=True, help_text="main's commit, for listings")
    downloads = models.BigIntegerField(default=0)
    likes = models.IntegerField(default=0)
    trending_score = models.FloatField(default=0.0)
    trending_at = models.DateTimeField(null=True, blank=True)
    # Parsed from README.md's front matter on main at commit time.
    card_data = models.JSONField(default=dict, blank=True)
    card_error = models.TextField(blank=True)
    license = models.CharField(max_length=100, blank=True)
    pipeline_tag = models.CharField(max_length=100, blank=True)
    library_name = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list, blank=True, help_text="All tags, as the HF API lists them")
    search_text = models.TextField(blank=True, help_text="Card text for full-text search")

    class Meta:
        constraints = [
            models.UniqueConstraint("type", "namespace", Lower("name"), name="repo_unique_name_ci"),
        ]
        indexes = [
            models.Index(Upper("full_name"), name="repo_full_name_ci"),
            models.Index(fields=["type", "-downloads"]),
            models.Index(fields=["type", "-likes"]),
            models.Index(fields=["type", "-last_modified"]),
            models.Index(fields=["type", "-created_at"]),
            models.Index(fields=["type", "-trending_score"]),
            models.Index(fields=["pipeline_tag"]),
            models.Index(fields=["library_name"]),
            models.Index(fields=["license"]),
            # Counting public repos of a type reads this index alone, not the wide rows (bench/registry.py).
            models.Index(fields=["type"], condition=models.Q(private=False), name="repo_public_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.full_name}"


class RepoRedirect(models.Model):
    """An old name of a renamed repo; reads under it redirect to the repo's current name."""

    type = models.CharField(max_length=8, choices=RepoType.choices)
    full_name = models.CharField(max_length=200)
    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="redirects")

    class Meta:
        constraints = [models.UniqueConstraint("type", Lower("full_name"), name="redirect_unique_name_ci")]


class Blob(models.Model):
    """File content, stored once under its sha256 whatever the number of repos and versions that hold it."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    git_sha1 = models.CharField(max_length=40, help_text="git blob id, which HF clients use as a small file's ETag")
    xet_hash = models.CharField(
        max_length=64, blank=True, default="", help_text="Xet file hash when the content is stored as Xet chunks"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    touched_at = models.DateTimeField(auto_now=True, help_text="last upload; GC spares recently touched blobs")


class BlobGrant(models.Model):
    """Proof that a user holds a blob's bytes (they uploaded them): only then may they commit it by hash.

    Without it, anyone who learned a sha256 could commit that blob into their own repo and read it there.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "sha256"], name="one_grant_per_user_blob")]


class RepoBlob(models.Model):
    """Which repos have ever held a blob (any revision): a user may also commit a blob they can already read."""

    repo = models.ForeignKey("Repo", on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "repo"], name="one_row_per_repo_blob")]


class Tree(models.Model):
    """A whole snapshot, path → (sha256, size, git blob id), zlib-compressed canonical JSON keyed by its own sha256.

    Identical snapshots are stored once. Reads decode it once per process (trees are immutable).
    """

    id = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    file_count = models.IntegerField()
    total_size = models.BigIntegerField()


class Commit(models.Model):
    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=40, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    parent_shas = models.JSONField(default=list)
    tree = models.ForeignKey(Tree, on_delete=models.PROTECT, related_name="commits")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_name = models.CharField(max_length=150)
    title = models.CharField(max_length=500)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["repo", "-created_at"])]

    def __str__(self) -> str:
        return self.sha


class CommitChange(models.Model):
    """What a commit changed relative to its first parent, for per-path history."""

    ADDED, MODIFIED, DELETED = "A", "M", "D"
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="changes")
    path = models.CharField(max_length=1024)
    change = models.CharField(max_length=1, choices=[(ADDED, "added"), (MODIFIED, "modified"), (DELETED, "deleted")])

    class Meta:
        indexes = [models.Index(fields=["commit", "path"])]


class Ref(models.Model):
    BRANCH, TAG = "branch", "tag"
    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=6, choices=[(BRANCH, "branch"), (TAG, "tag")])
    name = models.CharField(max_length=255)
    commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "kind", "name"], name="ref_unique_name")]


class RepoTag(models.Model):
    """One row per (repo, tag) so that tag filters and facet counts use an index on every database."""

    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "tag"], name="repo_tag_unique")]
        indexes = [models.Index(fields=["tag"])]


class RepoLink(models.Model):
    """A lineage edge from a card's base_model: the parent is named, and may or may not live in this hub."""

    child = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="parent_links")
    parent_name = models.CharField(max_length=200)
    relation = models.CharField(max_length=16, choices=Relation.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["child", "parent_name"], name="repo_link_unique")]
        indexes = [models.Index(Upper("parent_name"), name="repo_link_parent_ci")]


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="like_rows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repo"], name="one_like_per_user")]
