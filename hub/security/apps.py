from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "hub.security"
    label = "security"
