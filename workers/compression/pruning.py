"""Pruning: unstructured magnitude, attention heads, feed-forward neurons or whole layers, with an optional recovery
fine-tune.

What shrinks: `layers` gives a smaller, faster model (fewer blocks). `ffn` removes the least important feed-forward
neurons of every layer (narrowing.narrow: the saved config says the new intermediate_size), so the model is smaller
and faster in every family. `heads` on a Llama-family model removes query heads (the same number in every
key/value group), so the saved model is smaller and faster; on BERT-family encoders the stock transformers classes
derive the head size from hidden_size / num_attention_heads (and transformers 5 dropped `prune_heads`), so pruned
heads are zeroed in place (structured sparsity: same file size and speed, but loads anywhere); the result says
which happened (`structure`: "removed" or "zeroed"). `magnitude` zeroes the smallest weights of the blocks' Linear
layers (dense storage: same file size and CPU speed; it compresses well and suits sparse runtimes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from workers.compression import loop, modeling, narrowing, validation
from workers.compression.configs import PruneConfig
from workers.compression.data import encode, label_list
from workers.compression.evaluation import quality


def prune(
    config: PruneConfig,
    *,
    model_dir: str | Path,
    train_rows: list[dict] | None,
    eval_rows: list[dict],
    output_dir: str | Path,
    reporter,
) -> dict:
    """Prune the model in `model_dir` to `config.target_sparsity` and write it to `output_dir`."""
    config.validate()
    model_config = modeling.read_config(model_dir)
    validation.check_compatible_configs(config, teacher_config=model_config, columns=eval_rows)
    if config.recovery_steps:
        if not train_rows:
            raise ValueError("a recovery fine-tune needs training rows")
        validation.check_columns(train_rows, config)
    output_dir = Path(output_dir)
    tokenizer = modeling.load_tokenizer(model_dir)
    model = modeling.load_model(model_dir, config.task)
    labels = (
        label_list(model.config, train_rows or eval_rows, config.label_column)
        if config.task == "text-classification"
        else None
    )
    original_params = modeling.count_params(model)
    before = quality(model, tokenizer, eval_rows, config, labels=labels)
    masks: dict[str, torch.Tensor] = {}
    if config.method == "magnitude":
        masks = _magnitude_masks(model, config.target_sparsity)
        details = {"sparsity": _sparsity(model, masks)}
    elif config.method == "layers":
        n = model.config.num_hidden_layers
        keep = validation.default_keep_layers(n, n - round(n * config.target_sparsity))
        model = modeling.layer_subset(model, keep)
        details = {"keep_layers": keep, "removed_layers": n - len(keep), "structure": "removed"}
    elif config.method == "ffn":
        n = model.config.intermediate_size
        keep = n - round(n * config.target_sparsity)
        model = narrowing.narrow(model, intermediate_size=keep)
        details = {"intermediate_size": keep, "removed_neurons_per_layer": n - keep, "structure": "removed"}
    elif model.config.model_type in validation.DECODERS:
        model, details = _remove_decoder_heads(model, config.target_sparsity)
    else:
        details, masks = _zero_encoder_heads(model, config.target_sparsity)
    _apply(model, masks)
    if details.get("structure") == "removed":
        details["notes"] = "removed: " + narrowing.describe(model.config.to_dict(), model_config)
    reporter.log(f"pruned ({config.method}): {details}")

    result = {"steps": 0}
    if config.recovery_steps:
        encoded = encode(train_rows, tokenizer, config, labels=labels)
        for parameter in model.parameters():
            parameter.requires_grad_(True)

        def loss_fn(batch):
            out = model(**batch)
            return out.loss, {}

        result = loop.train(
            model, encoded=encoded, loss_fn=loss_fn, reporter=reporter, batch_size=config.batch_size,
            learning_rate=config.learning_rate, weight_decay=config.weight_decay, total_steps=config.recovery_steps,
            seed=config.seed, after_step=lambda: _apply(model, masks),
        )  # fmt: skip
    reporter.check_cancelled()
    if output_dir.exists():
        shutil.rmtree(output_dir)
    modeling.save_model(model, model_dir, output_dir)
    after = quality(model, tokenizer, eval_rows, config, labels=labels)
    reporter.metrics(result["steps"], after, split="eval")
    if config.method == "magnitude":
        details["sparsity"] = _sparsity(model, masks)
    return {
        "method": f"prune-{config.method}",
        "output_dir": str(output_dir),
        **details,
        "params": modeling.count_params(model),
        "original_params": original_params,
        **result,
        "original_metrics": before,
        "metrics": after,
        "config": config.to_dict(),
    }


def _block_linears(model) -> dict[str, nn.Linear]:
    prefix = modeling.LAYER_PREFIX[model.config.model_type].rsplit(".", 2)[0]  # e.g. "bert.encoder"
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith(prefix)}


def _magnitude_masks(model, sparsity: float) -> dict[str, torch.Tensor]:
    """Global magnitude pruning over the blocks' Linear weights (the heads and embeddings stay dense)."""
    linears = _block_linears(model)
    magnitudes = torch.cat([m.weight.detach().abs().flatten() for m in linears.values()])
    if magnitudes.numel() > 20_000_000:  # a threshold from a sample is as good and keeps memory flat
        generator = torch.Generator().manual_seed(0)
        magnitudes = magnitudes[torch.randint(magnitudes.numel(), (20_000_000,), generator=generator)]
    k = max(1, int(magnitudes.numel() * sparsity))
    threshold = magnitudes.kthvalue(k).values
    return {f"{n}.weight": (m.weight.detach().abs() > threshold) for n, m in linears.items()}


def _sparsity(model, masks: dict[str, torch.Tensor]) -> float:
    params = dict(model.named_parameters())
    zeros = sum(int((params[k] == 0).sum()) for k in masks)
    return zeros / max(1, sum(params[k].numel() for k in masks))


@torch.no_grad()
def _apply(model, masks: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].dtype))


def _zero_encoder_heads(model, sparsity: float) -> tuple[dict, dict[str, torch.Tensor]]:
    """Masks zeroing the least important heads of every layer (a BERT config cannot hold fewer heads)."""
    config = model.config
    heads = config.num_attention_heads
    head_dim = config.hidden_size // heads
    remove = round(heads * sparsity)
    if not 0 < remove < heads:
        raise ValueError(f"target_sparsity {sparsity} removes {remove} of {heads} heads per layer: pick another")
    masks = {}
    prefix = modeling.LAYER_PREFIX[config.model_type]
    for i, block in enumerate(modeling.blocks(model)):
        attention = block.attention
        weights = (attention.self.query.weight, attention.self.value.weight, attention.output.dense.weight)
        scores = narrowing.head_scores(*(w.detach() for w in weights), heads, head_dim)
        dropped = scores.argsort()[:remove]
        keep_rows = torch.ones(heads, head_dim, dtype=torch.bool)
        keep_rows[dropped] = False
        keep_rows = keep_rows.flatten()
        for proj in ("query", "key", "value"):
            layer = getattr(attention.self, proj)
            masks[f"{prefix}{i}.attention.self.{proj}.weight"] = keep_rows[:, None].expand_as(layer.weight).clone()
            masks[f"{prefix}{i}.attention.self.{proj}.bias"] = keep_rows.clone()
        dense = attention.output.dense
        masks[f"{prefix}{i}.attention.output.dense.weight"] = keep_rows[None, :].expand_as(dense.weight).clone()
    details = {
        "heads_per_layer": heads - remove,
        "removed_heads_per_layer": remove,
        "structure": "zeroed",
        "notes": (
            f"heads zeroed, not removed: a {config.model_type} config cannot hold fewer heads of the same size "
            "(same file size and speed; use method 'ffn' or 'layers' for a smaller model)"
        ),
    }
    return details, masks


def _remove_decoder_heads(model, sparsity: float) -> tuple[object, dict]:
    """Remove the least important query heads, the same number from every key/value group, so GQA still holds
    (without groups, multi-head attention: the heads with their keys and values)."""
    config = model.config
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    per_group = heads // kv if kv != heads else heads
    keep_per_group = per_group - round(per_group * sparsity)
    if not 0 < keep_per_group < per_group:
        unit = "query heads per key/value group" if kv != heads else "heads per layer"
        raise ValueError(
            f"target_sparsity {sparsity} keeps {keep_per_group} of {per_group} {unit}: "
            "pick a value that removes at least one and keeps at least one"
        )
    model = narrowing.narrow(model, num_heads=kv * keep_per_group if kv != heads else keep_per_group)
    details = {
        "heads_per_layer": model.config.num_attention_heads,
        "removed_heads_per_layer": heads - model.config.num_attention_heads,
        "structure": "removed",
    }
    return model, details
