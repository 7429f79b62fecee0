"""Forms of the catalog: sign-up and new repo. Validation of names is the services' (one place)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from hub.core.names import RESERVED_NAMES
from hub.registry.models import RepoType


class SignupForm(forms.Form):
    username = forms.CharField(max_length=96)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(widget=forms.PasswordInput, strip=False, label="Repeat password")

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if username.lower() in RESERVED_NAMES:
            raise forms.ValidationError(f"'{username}' is reserved; pick another name.")
        return username

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password"):
            try:
                password_validation.validate_password(data["password"])
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class NewRepoForm(forms.Form):
    owner = forms.ChoiceField()
    name = forms.CharField(max_length=96)
    type = forms.ChoiceField(choices=RepoType.choices, initial=RepoType.MODEL, widget=forms.RadioSelect)
    private = forms.BooleanField(required=False)

    def __init__(self, *args, owners: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(o, o) for o in owners]
