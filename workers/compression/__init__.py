"""Model compression: distillation, quantization, pruning, and the teacher-vs-student report.

Plain Python over torch and transformers (no Django, no Celery). Importing the package is cheap: the torch-based
functions load on first use, so `workers.compression.validation` and the configs can run where torch is absent.
"""

from __future__ import annotations

import importlib

from workers.compression.configs import DistillConfig, PruneConfig, QuantizeConfig
from workers.compression.validation import (
    check_architecture,
    check_columns,
    check_compatible,
    check_compatible_configs,
    check_keep_layers,
    check_student_smaller,
    check_tokenizers,
)

_LAZY = {
    "distill": "workers.compression.distillation",
    "quantize": "workers.compression.quantization",
    "load_quantized": "workers.compression.quantization",
    "prune": "workers.compression.pruning",
    "narrow": "workers.compression.narrowing",
    "evaluate": "workers.compression.evaluation",
    "compare": "workers.compression.evaluation",
    "report": "workers.compression.reports",
    "report_markdown": "workers.compression.reports",
    "report_svg": "workers.compression.reports",
    "card": "workers.compression.reports",
    "ladder": "workers.compression.ladders",
}

__all__ = [
    "DistillConfig", "PruneConfig", "QuantizeConfig", "check_architecture", "check_columns", "check_compatible",
    "check_compatible_configs", "check_keep_layers", "check_student_smaller", "check_tokenizers", *_LAZY,
]  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workers.compression' has no attribute {name!r}")
