from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from hub.accounts.models import ApiToken, Membership, Namespace, Organisation, User

admin.site.register(User, UserAdmin)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "created_at"]
    search_fields = ["name", "display_name"]
    inlines = [MembershipInline]


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "organisation"]
    search_fields = ["name"]
    readonly_fields = ["name", "user", "organisation"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be inspected and revoked here, never created: their hashes are not shown either."""

    list_display = ["name", "user", "role", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["name", "user__username", "prefix"]
    exclude = ["key_hash"]
    readonly_fields = ["user", "name", "role", "prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        from hub.accounts.services import revoke_token

        for token in queryset:
            revoke_token(token=token)
