from __future__ import annotations

from rest_framework import serializers

from hub.accounts.models import ApiToken, Organisation, Role, TokenRole


class TokenSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "role", "prefix", "created_at", "last_used_at", "revoked_at", "active"]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=TokenRole.values, default=TokenRole.READ)


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The token itself: shown this once, never again.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["name", "display_name", "created_at"]


class OrganisationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=96)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.values, default=Role.READ)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    is_admin = serializers.BooleanField()
    token_role = serializers.CharField(allow_null=True)
    orgs = serializers.ListField(child=serializers.DictField())
