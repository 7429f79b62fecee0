"""What a job request may say: tasks, methods, hyper-parameters with their defaults and bounds."""

from __future__ import annotations

from rest_framework import serializers

TASKS = ("text-classification", "causal-lm")
METHODS = ("full", "lora")
HARDWARE = ("cpu", "gpu")


class HyperParameters(serializers.Serializer):
    epochs = serializers.FloatField(default=3.0, min_value=0.01, max_value=100)
    learning_rate = serializers.FloatField(required=False, allow_null=True, default=None, min_value=1e-8, max_value=1.0)
    batch_size = serializers.IntegerField(default=16, min_value=1, max_value=1024)
    max_length = serializers.IntegerField(default=128, min_value=8, max_value=8192)
    warmup_ratio = serializers.FloatField(default=0.06, min_value=0.0, max_value=0.5)
    weight_decay = serializers.FloatField(default=0.01, min_value=0.0, max_value=1.0)
    lora_r = serializers.IntegerField(default=8, min_value=1, max_value=256)
    lora_alpha = serializers.IntegerField(default=16, min_value=1, max_value=1024)
    lora_dropout = serializers.FloatField(default=0.05, min_value=0.0, max_value=0.9)
    lora_target_modules = serializers.ListField(
        child=serializers.RegexField(r"^[A-Za-z0-9_.]{1,64}$"),
        required=False,
        allow_null=True,
        default=None,
        max_length=32,
    )
    seed = serializers.IntegerField(default=42, min_value=0, max_value=2**31 - 1)
    max_steps = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=10**7)
    checkpoint_every = serializers.IntegerField(default=0, min_value=0, max_value=10**7)
    eval_every = serializers.IntegerField(default=0, min_value=0, max_value=10**7)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                f"Unknown hyper-parameter(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(self.fields))}."
            )
        return attrs


class Columns(serializers.Serializer):
    text = serializers.CharField(default="text", max_length=200)
    text_pair = serializers.CharField(required=False, allow_null=True, default=None, max_length=200)
    label = serializers.CharField(default="label", max_length=200)
    prompt = serializers.CharField(default="prompt", max_length=200)
    response = serializers.CharField(default="response", max_length=200)
    messages = serializers.CharField(default="messages", max_length=200)


class FinetuneRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["finetune"], default="finetune")
    base_model = serializers.CharField(max_length=200, help_text="owner/name of a model repo")
    base_revision = serializers.CharField(default="main", max_length=255)
    dataset = serializers.CharField(max_length=200, help_text="owner/name of a dataset repo")
    dataset_revision = serializers.CharField(default="main", max_length=255)
    train_split = serializers.CharField(default="train", max_length=64)
    validation_split = serializers.CharField(required=False, allow_null=True, default=None, max_length=64)
    validation_fraction = serializers.FloatField(
        default=0.1, min_value=0.01, max_value=0.5, help_text="Held out from train when there is no validation split"
    )
    task = serializers.ChoiceField(choices=TASKS)
    method = serializers.ChoiceField(choices=METHODS, default="full")
    hyperparameters = serializers.JSONField(default=dict)
    columns = serializers.JSONField(default=dict)
    merge_adapter = serializers.BooleanField(default=False)
    hardware = serializers.ChoiceField(choices=HARDWARE, default="cpu")
    output = serializers.CharField(max_length=200, help_text="owner/name, or a name in your namespace")
    private = serializers.BooleanField(default=False)

    def validate_hyperparameters(self, value):
        return _nested(HyperParameters, value, "hyperparameters")

    def validate_columns(self, value):
        return _nested(Columns, value, "columns")


def _nested(serializer_class, value, name):
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"{name} must be an object.")
    serializer = serializer_class(data=value)
    if not serializer.is_valid():
        raise serializers.ValidationError(serializer.errors)
    return dict(serializer.validated_data)
