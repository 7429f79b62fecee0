from __future__ import annotations

from rest_framework import serializers

from hub.registry.models import Commit, Ref, Repo, RepoType


class RepoSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="full_name")
    owner = serializers.CharField(source="namespace.name")
    sha = serializers.CharField(source="head_sha")
    base_models = serializers.SerializerMethodField()

    class Meta:
        model = Repo
        fields = [
            "id", "type", "owner", "name", "private", "sha", "created_at", "last_modified", "downloads", "likes",
            "license", "pipeline_tag", "library_name", "tags", "base_models", "card_data", "card_error",
        ]  # fmt: skip

    def get_base_models(self, repo: Repo) -> list[str]:
        return [t.removeprefix("base_model:") for t in repo.tags if t.count(":") == 1 and t.startswith("base_model:")]


class RepoCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=RepoType.values, default=RepoType.MODEL)
    owner = serializers.CharField(required=False, help_text="A user or organisation; defaults to the caller.")
    name = serializers.CharField(max_length=200)
    private = serializers.BooleanField(default=False)


class RepoUpdateSerializer(serializers.Serializer):
    private = serializers.BooleanField()


class RepoMoveSerializer(serializers.Serializer):
    to = serializers.CharField(help_text="New 'owner/name'.")


class CommitSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="sha")
    parents = serializers.ListField(source="parent_shas", child=serializers.CharField())
    author = serializers.CharField(source="author_name")

    class Meta:
        model = Commit
        fields = ["id", "parents", "author", "title", "message", "created_at"]


class RefSerializer(serializers.ModelSerializer):
    commit = serializers.CharField(source="commit.sha")

    class Meta:
        model = Ref
        fields = ["kind", "name", "commit", "updated_at"]


class RefCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    revision = serializers.CharField(default="main")


class OperationSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=["add", "delete", "delete_folder", "copy"])
    path = serializers.CharField(allow_blank=False, trim_whitespace=False)
    content_base64 = serializers.CharField(required=False, trim_whitespace=False)
    content = serializers.CharField(required=False, trim_whitespace=False, help_text="UTF-8 text content")
    blob = serializers.CharField(required=False, help_text="sha256 of a blob uploaded to /api/v1/blobs")
    src_path = serializers.CharField(required=False, trim_whitespace=False)
    src_revision = serializers.CharField(required=False)
    src_repo = serializers.CharField(required=False, help_text="'owner/name' of another repo of the same type")


class CommitCreateSerializer(serializers.Serializer):
    branch = serializers.CharField(default="main")
    title = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    message = serializers.CharField(required=False, allow_blank=True, default="")
    parent_commit = serializers.RegexField(r"^[0-9a-fA-F]{40}$", required=False)
    operations = OperationSerializer(many=True)


class TreeEntrySerializer(serializers.Serializer):
    type = serializers.CharField()
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class BlobSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
