"""validate_rows (run by the web process before queueing), labels, metrics and the seeded data order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workers.training import data
from workers.training.finetune import FinetuneConfig, validate_rows
from workers.training.metrics import accuracy, macro_f1, perplexity

ROOT = Path(__file__).resolve().parents[3]
CLS = FinetuneConfig(task="text-classification")
LM = FinetuneConfig(task="causal-lm")


def test_classification_rows_give_sorted_labels():
    rows = [{"text": "a", "label": "sport"}, {"text": "b", "label": "business"}, {"text": "c", "label": "sport"}]
    assert validate_rows(CLS, rows) == {"rows": 3, "labels": ["business", "sport"], "format": "text-label"}
    ints = [{"text": "a", "label": 2}, {"text": "b", "label": 0}]
    assert validate_rows(CLS, ints)["labels"] == [0, 2]
    pairs = FinetuneConfig(task="text-classification", text_column="q", text_pair_column="p", label_column="y")
    assert validate_rows(pairs, [{"q": "a", "p": "b", "y": True}, {"q": "c", "p": "", "y": False}])["labels"] == [
        False,
        True,
    ]


def test_chat_rows_are_recognised_by_their_messages_column():
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    assert validate_rows(LM, rows) == {"rows": 1, "labels": None, "format": "messages"}
    assert validate_rows(LM, [{"prompt": "", "response": "hello"}])["format"] == "prompt-response"


@pytest.mark.parametrize(
    "config, rows, message",
    [
        (CLS, [], "no rows"),
        (CLS, ["just text"], "row 0 is not a record"),
        (CLS, [{"body": "a", "label": "x"}], "column 'text' not found; the rows have: body, label"),
        (CLS, [{"text": "a", "label": "x"}, {"text": "b"}], "row 1 has no column 'label'"),
        (CLS, [{"text": "a", "label": "x"}, {"text": None, "label": "y"}], "row 1, column 'text' must be text"),
        (CLS, [{"text": "a", "label": "x"}, {"text": "  ", "label": "y"}], "row 1, column 'text' is empty"),
        (CLS, [{"text": "a", "label": 0.5}, {"text": "b", "label": 1.5}], "labels must be text, integers or booleans"),
        (CLS, [{"text": "a", "label": None}, {"text": "b", "label": "y"}], "got null"),
        (CLS, [{"text": "a", "label": ["x"]}, {"text": "b", "label": "y"}], "got list"),
        (CLS, [{"text": "a", "label": 1}, {"text": "b", "label": "y"}], "mixes label types \\(int and str\\)"),
        (CLS, [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}], "single label \\('x'\\)"),
        (CLS, [{"text": str(i), "label": i} for i in range(1001)], "1001 distinct labels"),
        (LM, [{"text": "a"}], "column 'prompt' not found \\(or a 'messages' column"),
        (LM, [{"prompt": "a", "response": " "}], "row 0, column 'response' is empty"),
        (LM, [{"prompt": 3, "response": "b"}], "row 0, column 'prompt' must be text \\(got int 3\\)"),
        (LM, [{"messages": "hello"}], "row 0, column 'messages' must be a non-empty list"),
        (LM, [{"messages": [{"role": "user"}]}], "message 0 must be an object with 'role' and 'content'"),
        (LM, [{"messages": [{"role": "bot", "content": "x"}]}], "message 0 has role 'bot'"),
        (LM, [{"messages": [{"role": "user", "content": 1}]}], "message 0 content must be text"),
        (LM, [{"messages": [{"role": "user", "content": "hi"}]}], "no non-empty assistant message"),
        (
            LM,
            [{"messages": [{"role": "assistant", "content": "x"}]}, {"prompt": "a", "response": "b"}],
            "row 1 has no 'messages' while other rows do",
        ),
        (FinetuneConfig(task="summarization"), [{"text": "a"}], "task must be one of"),
        (FinetuneConfig(task="causal-lm", method="qlora"), [{"text": "a"}], "method must be one of"),
        (FinetuneConfig(task="causal-lm", merge_adapter=True), [{"text": "a"}], "merge_adapter applies to"),
    ],
)
def test_unusable_rows_are_rejected_with_the_column_and_row(config, rows, message):
    with pytest.raises(ValueError, match=message):
        validate_rows(config, rows)


def test_importing_the_api_does_not_import_torch():
    """The web process builds configs and checks rows; it must not pay for (or need) torch."""
    code = (
        "import sys; from workers.training.finetune import FinetuneConfig, validate_rows; "
        "import workers.training.data; assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_default_learning_rates_depend_on_task_and_method():
    assert FinetuneConfig(task="text-classification").lr == 5e-5
    assert FinetuneConfig(task="causal-lm").lr == 2e-5
    assert FinetuneConfig(task="causal-lm", method="lora").lr == 2e-4
    assert FinetuneConfig(task="causal-lm", learning_rate=1e-3).lr == 1e-3


def test_the_data_order_is_a_seeded_permutation_per_epoch():
    first = data.epoch_order(50, seed=42, epoch=0)
    assert sorted(first) == list(range(50)) and first == data.epoch_order(50, seed=42, epoch=0)
    assert first != data.epoch_order(50, seed=42, epoch=1) and first != data.epoch_order(50, seed=7, epoch=0)


def test_metrics_match_their_definitions():
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2]
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # per class F1: 0 → 2·1/(2+1+1)=0.5, 1 → 2·2/(4+1+0)=0.8, 2 → 2·1/(2+0+1)=2/3 (as sklearn's macro average)
    assert macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert macro_f1([0, 0], [1, 1]) == 0.0 and macro_f1([1, 1], [1, 1]) == 1.0
    assert perplexity(0.0) == 1.0 and perplexity(1e9) < float("inf")


def test_the_majority_baseline_predicts_the_most_frequent_training_label():
    baseline = data.majority_baseline([0, 1, 1, 1], [1, 0, 1, 2])
    assert baseline["majority_accuracy"] == 0.5
    assert baseline["majority_f1"] == pytest.approx((0 + 2 / 3 + 0) / 3)
