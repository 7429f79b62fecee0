"""Held-out metrics in plain Python (no sklearn): accuracy, macro F1, perplexity."""

from __future__ import annotations

import math


def accuracy(y_true: list[int], y_pred: list[int]) -> float:
    if not y_true:
        return 0.0
    return sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p) / len(y_true)


def macro_f1(y_true: list[int], y_pred: list[int]) -> float:
    """The unweighted mean of per-class F1 over the classes seen in y_true or y_pred (as sklearn's average="macro");
    a class with no true and no predicted positive is absent, one with precision + recall = 0 counts as 0."""
    classes = sorted(set(y_true) | set(y_pred))
    if not classes:
        return 0.0
    scores = []
    for c in classes:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def perplexity(mean_loss: float) -> float:
    """exp(loss), capped so that a diverged model still gives a finite (JSON-safe) number."""
    return math.exp(min(mean_loss, 50.0))
