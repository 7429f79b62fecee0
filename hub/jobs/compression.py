"""Compression job requests (distill, quantize, prune, ladder): every check before anything is queued.

A request names a teacher (base_model@revision), a dataset (for training students and for the held-out report),
and either one method's settings (`config`) or, for a ladder, several (`steps`). Each method's settings are the
dataclasses of workers.compression (torch-free), whose validators give the 400 messages. A distill step's student is
built from the teacher (student 'layers': keep_layers / num_student_layers, and narrower with intermediate_size and,
for Llama-family teachers, num_heads) or is an existing smaller model (student 'existing' + student_model).
"""

from __future__ import annotations

import json

from django.db import transaction
from rest_framework import serializers

from hub.core.errors import Invalid
from hub.jobs import requests as job_requests
from hub.jobs import services
from hub.jobs.models import Job, JobKind
from hub.jobs.specs import HARDWARE
from hub.registry import selectors as registry
from hub.registry.models import RepoType

KINDS = ("distill", "quantize", "prune", "ladder")
MAX_STEPS = 6
PRESETS = {
    # "Fastest with ≤ 1 point loss": a 3-layer distilled student and dynamic int8 of the teacher, compared.
    "fastest": [
        {"kind": "distill", "num_student_layers": 3, "alpha": 0.5, "temperature": 2.0, "epochs": 2},
        {"kind": "quantize", "method": "dynamic-int8"},
    ],
    # "Smallest": int4 weights, int8 weights and a 2-layer student.
    "smallest": [
        {"kind": "quantize", "method": "weight-int4"},
        {"kind": "quantize", "method": "weight-int8"},
        {"kind": "distill", "num_student_layers": 2, "epochs": 2},
    ],
}


class ColumnsSerializer(serializers.Serializer):
    text = serializers.CharField(default="text", max_length=200)
    label = serializers.CharField(default="label", max_length=200)
    prompt = serializers.CharField(default="prompt", max_length=200)
    response = serializers.CharField(default="response", max_length=200)


class CompressionRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    base_model = serializers.CharField(max_length=200, help_text="the teacher: owner/name of a model repo")
    base_revision = serializers.CharField(default="main", max_length=255)
    dataset = serializers.CharField(max_length=200, help_text="training data for students and the held-out report")
    dataset_revision = serializers.CharField(default="main", max_length=255)
    train_split = serializers.CharField(default="train", max_length=64)
    validation_split = serializers.CharField(required=False, allow_null=True, default=None, max_length=64)
    validation_fraction = serializers.FloatField(default=0.2, min_value=0.01, max_value=0.5)
    task = serializers.ChoiceField(choices=("text-classification", "causal-lm"))
    max_length = serializers.IntegerField(default=128, min_value=8, max_value=8192)
    columns = serializers.JSONField(default=dict)
    config = serializers.JSONField(default=dict, help_text="settings of the one method (distill, quantize, prune)")
    steps = serializers.JSONField(default=list, help_text="ladder: [{kind, …settings}, …]")
    preset = serializers.ChoiceField(choices=tuple(PRESETS), required=False, allow_null=True, default=None)
    student_model = serializers.CharField(required=False, allow_null=True, default=None, max_length=200)
    student_revision = serializers.CharField(default="main", max_length=255)
    hardware = serializers.ChoiceField(choices=HARDWARE, default="cpu")
    output = serializers.CharField(max_length=200, help_text="owner/name (a ladder adds -<step> per student)")
    private = serializers.BooleanField(default=False)
    seed = serializers.IntegerField(default=42, min_value=0, max_value=2**31 - 1)

    def validate_columns(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("columns must be an object.")
        serializer = ColumnsSerializer(data=value)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("config must be an object.")
        return value

    def validate_steps(self, value):
        if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
            raise serializers.ValidationError("steps must be a list of objects, each with a 'kind'.")
        if len(value) > MAX_STEPS:
            raise serializers.ValidationError(f"a ladder has at most {MAX_STEPS} steps.")
        return value


def preset_steps(preset: str, teacher_config: dict) -> list[dict]:
    """The preset's steps fitted to the teacher: "fastest" distils to half its layers (3 of MiniLM's 6),
    "smallest" to a third; both at least one."""
    layers = int(teacher_config.get("num_hidden_layers") or 2)
    steps = [dict(s) for s in PRESETS[preset]]
    for step in steps:
        if step["kind"] == "distill":
            step["num_student_layers"] = max(1, layers // (2 if preset == "fastest" else 3))
    return steps


def config_class(kind: str):
    from workers.compression import DistillConfig, PruneConfig, QuantizeConfig

    return {"distill": DistillConfig, "quantize": QuantizeConfig, "prune": PruneConfig}[kind]


def step_configs(data: dict) -> list[dict]:
    """[{kind, settings}] with the shared task/columns folded in; ValueError for anything a config refuses."""
    if data["kind"] == "ladder":
        steps = [dict(s) for s in data["steps"]]
        if not steps:
            raise ValueError("a ladder needs 'steps' (or a 'preset': fastest, smallest)")
    else:
        if data["steps"]:
            raise ValueError(f"'steps' is for ladders; a {data['kind']} job takes its settings in 'config'")
        steps = [{**data["config"], "kind": data["kind"]}]
    cols = data["columns"]
    shared = {
        "task": data["task"],
        "max_length": data["max_length"],
        "text_column": cols["text"],
        "label_column": cols["label"],
        "prompt_column": cols["prompt"],
        "response_column": cols["response"],
    }
    result = []
    for index, step in enumerate(steps, start=1):
        kind = step.pop("kind", None)
        if kind not in ("distill", "quantize", "prune"):
            raise ValueError(f"step {index}: kind must be distill, quantize or prune (got {kind!r})")
        clash = sorted(set(step) & set(shared))
        if clash:
            raise ValueError(f"step {index}: set {', '.join(clash)} at the top of the request, not per step")
        if kind != "quantize":
            step.setdefault("seed", data["seed"])
        if data["kind"] == "ladder" and kind == "distill":
            step["checkpoint_every"] = 0  # a ladder's students are published at the end; a re-run starts over
        try:
            config = config_class(kind).from_dict({**step, **shared})
        except TypeError as exc:  # a value of the wrong type
            raise ValueError(f"step {index} ({kind}): {exc}") from None
        except ValueError as exc:
            raise ValueError(f"step {index} ({kind}): {exc}") if len(steps) > 1 else exc from None
        result.append({"kind": kind, "settings": config.to_dict()})
    return result


def _tokenizer_files(repo, commit_sha: str) -> dict[str, bytes]:
    from hub.registry import storage
    from workers.compression.validation import TOKENIZER_FILES

    files = registry.snapshot(registry.resolve_revision(repo, commit_sha)).files
    return {n: storage.read_blob(files[n].sha256, limit=64 << 20) for n in TOKENIZER_FILES if n in files}


def create(user, body, *, token_role: str) -> Job:
    from workers.compression import check_compatible_configs

    if not isinstance(body, dict):
        raise Invalid("The body must be a JSON object.")
    serializer = CompressionRequest(data=body)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    teacher, teacher_commit = services.pin(
        user, RepoType.MODEL, data["base_model"], data["base_revision"], what="base_model"
    )
    dataset, dataset_commit = services.pin(
        user, RepoType.DATASET, data["dataset"], data["dataset_revision"], what="dataset"
    )
    teacher_config = job_requests.base_model_config(teacher, teacher_commit)
    if data.get("preset"):
        if data["kind"] != "ladder":
            raise Invalid("A preset is a ladder: send kind 'ladder' with it.", code="invalid")
        data["steps"] = preset_steps(data["preset"], teacher_config)
        data["preset_used"] = data.pop("preset")
    try:
        steps = step_configs(data)
    except ValueError as exc:
        raise Invalid(str(exc), code="invalid_config") from None
    names = [step_name(s) for s in steps]
    if len(set(names)) != len(names):
        raise Invalid(f"two steps would publish the same student: {', '.join(names)}", code="invalid_config")
    outputs = [data["output"]] if data["kind"] != "ladder" else [f"{data['output']}-{n}" for n in names]
    targets = [services.output_target(user, o, token_role=token_role) for o in outputs]
    if any(existing is not None and existing.pk == teacher.pk for _, _, existing in targets):
        raise Invalid("output must differ from base_model (publish students to new repos).", code="invalid_output")
    student = None
    if any(s["kind"] == "distill" and s["settings"].get("student") == "existing" for s in steps):
        if not data["student_model"]:
            raise Invalid("student 'existing' needs student_model (owner/name of a smaller model).", code="invalid")
        student, student_commit = services.pin(
            user, RepoType.MODEL, data["student_model"], data["student_revision"], what="student_model"
        )
        student_config = job_requests.base_model_config(student, student_commit, what="student_model")
    elif data["student_model"]:
        raise Invalid("student_model is only used by distill steps with student 'existing'.", code="invalid")
    needed = _needed_columns(data)
    rows, _ = job_requests.dataset_rows(
        dataset, dataset_commit, split=data["train_split"], validation_split=data["validation_split"], columns=needed
    )
    for step in steps:
        config = config_class(step["kind"])(**step["settings"])
        try:
            check_compatible_configs(
                config,
                teacher_config=teacher_config,
                student_config=student_config
                if student is not None and step["settings"].get("student") == "existing"
                else None,
                teacher_tokenizer=_tokenizer_files(teacher, teacher_commit) if student is not None else None,
                student_tokenizer=_tokenizer_files(student, student_commit) if student is not None else None,
                columns=rows[:50],
            )
        except ValueError as exc:
            raise Invalid(f"{step['kind']}: {exc}", code="incompatible") from None
    if data["task"] == "text-classification":
        architectures = teacher_config.get("architectures") or []
        if not any(a.endswith("ForSequenceClassification") for a in architectures) or not teacher_config.get(
            "id2label"
        ):
            raise Invalid(
                f"base_model '{teacher.full_name}' is not a fine-tuned classifier (no …ForSequenceClassification "
                "head with labels): fine-tune it on your data first, then compress the result.",
                code="not_a_classifier",
            )
    cols = data["columns"]
    spec = {
        "task": data["task"],
        "steps": steps,
        "names": names,
        "outputs": [t[0] for t in targets],
        "columns": {
            "text": cols["text"],
            "label": cols["label"],
            "prompt": cols["prompt"],
            "response": cols["response"],
        },
        "hyperparameters": {"seed": data["seed"]},
        "max_length": data["max_length"],
        "train_split": data["train_split"],
        "validation_split": data["validation_split"],
        "validation_fraction": data["validation_fraction"],
        "private": data["private"],
        "preset": data.get("preset_used"),
        "student": {"repo": student.full_name, "commit": student_commit} if student is not None else None,
        "teacher_model_type": teacher_config.get("model_type"),
    }
    with transaction.atomic():
        return services.create_job(
            owner=user,
            namespace=targets[0][1],
            kind=data["kind"],
            hardware=data["hardware"],
            spec=_jsonable(spec),
            output_repo=targets[0][0],
            base=(teacher.full_name, teacher_commit),
            dataset=(dataset.full_name, dataset_commit),
        )


def _needed_columns(data: dict) -> list[str]:
    cols = data["columns"]
    if data["task"] == "text-classification":
        return [cols["text"], cols["label"]]
    return []  # causal LM: 'text', or prompt + response; the config's check names what is missing


def step_name(step: dict) -> str:
    from workers.compression.ladders import step_name as name_of

    return name_of(config_class(step["kind"])(**step["settings"]))


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


__all__ = ["KINDS", "PRESETS", "JobKind", "create"]
