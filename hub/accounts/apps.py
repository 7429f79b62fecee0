from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "hub.accounts"
    label = "accounts"

    def ready(self) -> None:
        from hub.accounts import signals  # noqa: F401
