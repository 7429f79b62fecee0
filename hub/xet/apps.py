from django.apps import AppConfig


class XetConfig(AppConfig):
    name = "hub.xet"
    label = "xet"
