"""Post-training quantization of the Linear layers, saved as safetensors that load back without pickled code.

Saved folder: config.json and the tokenizer as usual, the weights in `model.quantized.safetensors` (int8 weights,
or int4 packed two per byte, with float scales; everything else in float32) and `hub_quantization.json` saying
how to rebuild the model. Load with `workers.compression.load_quantized(folder)`, which builds the transformers
model from config.json and swaps in the quantized layers:

- dynamic-int8: torch's dynamically quantized Linear (int8 weights per output channel, activations quantized per
  batch at run time; CPU only, x86/fbgemm or ARM/qnnpack). Faster matmuls and a ~4× smaller Linear weight.
- weight-int8: int8 weights per output channel, float activations (torch._weight_int8pack_mm on CPU when the build
  has it, else dequantized on the fly). Mostly a memory and file-size saving.
- weight-int4: int4 weights with one scale per group of `group_size` inputs, dequantized on the fly: ~7× smaller
  Linear weights, slower than float on CPU.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from workers.compression import modeling, validation
from workers.compression.configs import QuantizeConfig

QUANT_FILE = "hub_quantization.json"
WEIGHTS_FILE = "model.quantized.safetensors"
FORMAT_VERSION = 1


class WeightOnlyLinear(nn.Module):
    """A Linear layer holding int8 (or packed int4) weights and float scales; activations stay in float."""

    def __init__(self, in_features: int, out_features: int, *, bits: int, group_size: int, bias: bool):
        super().__init__()
        self.in_features, self.out_features, self.bits, self.group_size = in_features, out_features, bits, group_size
        if bits == 8:
            self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
            self.register_buffer("scales", torch.ones(out_features))
        else:
            self.register_buffer("qweight", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
            self.register_buffer("scales", torch.ones(out_features, in_features // group_size))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, bits: int, group_size: int) -> WeightOnlyLinear:
        module = cls(linear.in_features, linear.out_features, bits=bits, group_size=group_size,
                     bias=linear.bias is not None)  # fmt: skip
        weight = linear.weight.detach().float()
        if bits == 8:
            scales = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
            module.qweight.copy_(torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8))
        else:
            grouped = weight.reshape(linear.out_features, -1, group_size)
            scales = grouped.abs().amax(dim=2).clamp(min=1e-8) / 7
            q = torch.round(grouped / scales[:, :, None]).clamp(-8, 7).to(torch.int16) + 8  # 0..15
            q = q.reshape(linear.out_features, linear.in_features).to(torch.uint8)
            module.qweight.copy_(q[:, 0::2] | (q[:, 1::2] << 4))
        module.scales.copy_(scales)
        if linear.bias is not None:
            module.bias.data.copy_(linear.bias.detach().float())
        return module

    def dequantized(self) -> torch.Tensor:
        if self.bits == 8:
            return self.qweight.float() * self.scales[:, None]
        low = (self.qweight & 0x0F).to(torch.int16) - 8
        high = (self.qweight >> 4).to(torch.int16) - 8
        q = torch.stack([low, high], dim=-1).reshape(self.out_features, -1, self.group_size).float()
        return (q * self.scales[:, :, None]).reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits == 8 and x.device.type == "cpu" and x.dtype == torch.float32 and _INT8_MM:
            out = torch._weight_int8pack_mm(x.reshape(-1, self.in_features), self.qweight, self.scales)
            out = out.reshape(*x.shape[:-1], self.out_features)
            return out + self.bias if self.bias is not None else out
        return F.linear(x, self.dequantized().to(x.dtype), self.bias)

    def quantized_param_count(self) -> int:
        return self.in_features * self.out_features

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}"


_INT8_MM = hasattr(torch, "_weight_int8pack_mm")


def _targets(model, config: QuantizeConfig) -> list[str]:
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or any(name.endswith(s) for s in config.skip_modules):
            continue
        if config.method == "weight-int4" and (module.in_features % config.group_size or module.in_features % 2):
            continue
        names.append(name)
    return names


def _dynamic_qconfig(per_channel: bool):
    from torch.ao import quantization as tq

    return tq.per_channel_dynamic_qconfig if per_channel else tq.default_dynamic_qconfig


def _quantize_dynamic(model, names: list[str], per_channel: bool):
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch ≥ 2.10 flags eager-mode quantization as deprecated (still supported)
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, {n: _dynamic_qconfig(per_channel) for n in names}, dtype=torch.qint8, inplace=True
        )


def _swap(model, names: list[str], factory) -> None:
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, factory(getattr(parent, child)))


def _untie(model) -> None:
    """Give the LM head its own weight so quantizing it leaves the input embeddings in float."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and head.weight is model.get_input_embeddings().weight:
        head.weight = nn.Parameter(head.weight.detach().clone())
    model.config.tie_word_embeddings = False


def quantize_model(model, config: QuantizeConfig):
    """Quantize `model` in place; returns (model, names of the quantized Linear layers)."""
    _untie(model)
    names = _targets(model, config)
    if config.method == "dynamic-int8":
        return _quantize_dynamic(model, names, config.per_channel), names
    bits = 8 if config.method == "weight-int8" else 4
    _swap(model, names, lambda linear: WeightOnlyLinear.from_linear(linear, bits=bits, group_size=config.group_size))
    return model, names


def _state(model, names: list[str], method: str) -> dict[str, torch.Tensor]:
    if method != "dynamic-int8":
        return {k: v.contiguous() for k, v in model.state_dict().items()}
    state = {}
    quantized = set(names)
    for key, value in model.state_dict().items():
        owner = key.rsplit(".", 2)[0]
        if owner in quantized or key.startswith(tuple(n + "." for n in quantized)):
            continue  # packed params: written below
        if isinstance(value, torch.Tensor):
            state[key] = value.contiguous()
    for name in names:
        module = model.get_submodule(name)
        weight, bias = module._weight_bias()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales, zeros = weight.q_per_channel_scales().float(), weight.q_per_channel_zero_points().to(torch.int32)
        else:
            scales = torch.tensor([weight.q_scale()], dtype=torch.float32)
            zeros = torch.tensor([weight.q_zero_point()], dtype=torch.int32)
        state[f"{name}.qweight"] = weight.int_repr().contiguous()
        state[f"{name}.scales"] = scales.contiguous()
        state[f"{name}.zero_points"] = zeros.contiguous()
        if bias is not None:
            state[f"{name}.bias"] = bias.detach().float().contiguous()
    return state


def save_quantized(model, names: list[str], config: QuantizeConfig, *, source_dir, output_dir) -> Path:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(output_dir)
    save_file(_state(model, names, config.method), output_dir / WEIGHTS_FILE, metadata={"format": "pt"})
    modeling.copy_tokenizer(source_dir, output_dir)
    modeling.write_json(
        output_dir / QUANT_FILE,
        {
            "format_version": FORMAT_VERSION,
            "method": config.method,
            "task": config.task,
            "per_channel": config.per_channel,
            "group_size": config.group_size,
            "weights_file": WEIGHTS_FILE,
            "modules": names,
            "loader": "workers.compression.load_quantized(folder)",
        },
    )
    return output_dir


def load_quantized(model_dir: str | Path):
    """Rebuild a model saved by quantize(): the transformers model from config.json, quantized layers swapped in."""
    from transformers import AutoConfig

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / QUANT_FILE).read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{model_dir}: unknown quantization format {meta.get('format_version')!r}")
    method, names = meta["method"], meta["modules"]
    hf_config = AutoConfig.from_pretrained(model_dir)
    model = modeling.model_class(meta["task"]).from_config(hf_config, dtype=torch.float32).eval()
    _untie(model)
    state = load_file(model_dir / meta["weights_file"])
    if method == "dynamic-int8":
        plain = {k: v for k, v in state.items() if not k.startswith(tuple(n + "." for n in names))}
        _load_strict(model, plain, ignore=names)
        _quantize_dynamic(model, names, meta["per_channel"])
        for name in names:
            qweight = state[f"{name}.qweight"]
            scales, zeros = state[f"{name}.scales"], state[f"{name}.zero_points"]
            if meta["per_channel"]:
                weight = torch._make_per_channel_quantized_tensor(qweight, scales.double(), zeros.long(), 0)
            else:
                weight = torch._make_per_tensor_quantized_tensor(qweight, float(scales[0]), int(zeros[0]))
            model.get_submodule(name).set_weight_bias(weight, state.get(f"{name}.bias"))
        return model.eval()
    bits = 8 if method == "weight-int8" else 4
    _swap(model, names, lambda lin: WeightOnlyLinear.from_linear(lin, bits=bits, group_size=meta["group_size"]))
    _load_strict(model, state, ignore=[])
    return model.eval()


def _load_strict(model, state: dict, *, ignore: list[str]) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    prefixes = tuple(n + "." for n in ignore)
    missing = [k for k in missing if not k.startswith(prefixes) and not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(
            f"quantized weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def quantize(
    config: QuantizeConfig,
    *,
    model_dir: str | Path,
    output_dir: str | Path,
    reporter,
    eval_rows: list[dict] | None = None,
) -> dict:
    """Quantize the model in `model_dir` into `output_dir`; with eval_rows, quality before and after."""
    config.validate()
    validation.check_architecture(modeling.read_config(model_dir), config.task)
    if eval_rows is not None:
        validation.check_columns(eval_rows, config)
    if config.method == "dynamic-int8" and not torch.backends.quantized.supported_engines:
        raise ValueError("dynamic-int8 needs a torch build with a quantized engine (fbgemm, x86 or qnnpack)")
    reporter.check_cancelled()
    model = modeling.load_model(model_dir, config.task)
    params = modeling.count_params(model)
    model, names = quantize_model(model, config)
    reporter.log(f"{config.method}: {len(names)} Linear layers quantized")
    reporter.progress(1, 2)
    save_quantized(model, names, config, source_dir=model_dir, output_dir=output_dir)
    reloaded = load_quantized(output_dir)  # what a user will get, not the in-memory model
    result = {
        "method": config.method,
        "output_dir": str(output_dir),
        "quantized_modules": len(names),
        "params": params,
        "file_size_bytes": modeling.weights_size(output_dir),
        "original_file_size_bytes": modeling.weights_size(model_dir),
        "config": config.to_dict(),
    }
    if eval_rows is not None:
        from workers.compression.evaluation import quality

        tokenizer = modeling.load_tokenizer(model_dir)
        result["original_metrics"] = quality(modeling.load_model(model_dir, config.task), tokenizer, eval_rows, config)
        result["metrics"] = quality(reloaded, tokenizer, eval_rows, config)
        reporter.metrics(1, result["metrics"], split="eval")
    reporter.progress(2, 2)
    return result
