"""Low-rank adapters (LoRA) on Kokoro's weights, through torch's parametrizations: a weight W of shape
[out, ...] reads as W + scale * B @ A (A [rank, prod(...)], B [out, rank], B zero at first), so the base
weights stay as they ship and a trained voice is only its A and B matrices.

The same parametrized model trains and speaks: switching voices copies other matrices in, and no weight is
ever merged or copied. (PEFT does the same for Hugging Face models, at the price of transformers and
accelerate as dependencies, for a model that is not one of theirs.)"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

RANK = 8
ALPHA = 16.0  # the delta is scaled by ALPHA / RANK, as in the LoRA paper
MIN_SIZE = 4 * RANK  # weights with a dimension smaller than this are left alone (depthwise pools, 1-channel convs)
PREFIX = "lora"


class LowRank(nn.Module):
    """The parametrization: the base weight plus a scaled low-rank delta."""

    def __init__(self, shape: torch.Size, rank: int = RANK) -> None:
        super().__init__()
        self.shape = shape
        self.scale = ALPHA / rank
        self.a = nn.Parameter(torch.empty(rank, math.prod(shape[1:])))
        self.b = nn.Parameter(torch.zeros(shape[0], rank))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.b @ self.a).view(self.shape)


ADAPTED = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)


def add_adapters(model: nn.Module, part: str, rank: int = RANK) -> list[str]:
    """Put a LowRank on the weight of every convolution and linear layer under `part` (e.g. "decoder") large
    enough for one; returns their module names. Only the adapters' parameters require gradients afterwards."""
    names = []
    for name, module in model.get_submodule(part).named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, ADAPTED) and not parametrize.is_parametrized(module, "weight") \
                and min(weight.shape[0], math.prod(weight.shape[1:])) >= MIN_SIZE:
            parametrize.register_parametrization(module, "weight", LowRank(weight.shape, rank).to(weight))
            names.append(".".join(filter(None, (part, name))))
    for parameter_name, parameter in model.named_parameters():
        parameter.requires_grad_(".parametrizations.weight.0." in parameter_name)
    return names


def adapters(model: nn.Module) -> dict[str, LowRank]:
    """Every adapter of the model, by the name of the module it adapts."""
    return {name: module.parametrizations["weight"][0] for name, module in model.named_modules()
            if parametrize.is_parametrized(module, "weight")}


def adapter_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The adapters as arrays, `lora.MODULE.a` and `lora.MODULE.b`: what a trained voice stores."""
    arrays = {}
    for name, adapter in adapters(model).items():
        arrays[f"{PREFIX}.{name}.a"] = adapter.a.detach().cpu().numpy().copy()
        arrays[f"{PREFIX}.{name}.b"] = adapter.b.detach().cpu().numpy().copy()
    return arrays


def load_adapter_arrays(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Set the model's adapters from `adapter_arrays`' output, adding those it lacks; raises ValueError when
    an array does not fit the model."""
    wanted = {key.removeprefix(f"{PREFIX}.").rpartition(".")[0] for key in arrays if key.startswith(f"{PREFIX}.")}
    present = adapters(model)
    for name in sorted(wanted):
        a, b = arrays.get(f"{PREFIX}.{name}.a"), arrays.get(f"{PREFIX}.{name}.b")
        if a is None or b is None:
            raise ValueError(f"adapter {name} lacks its a or b matrix")
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"the model has no layer {name}") from None
        adapter = present.get(name)
        if adapter is None:
            if not isinstance(module, ADAPTED):
                raise ValueError(f"{name} is not a layer that takes an adapter")
            adapter = LowRank(module.weight.shape, a.shape[0]).to(module.weight)
            parametrize.register_parametrization(module, "weight", adapter)
        if a.shape != tuple(adapter.a.shape) or b.shape != tuple(adapter.b.shape):
            raise ValueError(f"adapter {name} has shapes {a.shape} and {b.shape}, not {tuple(adapter.a.shape)} "
                             f"and {tuple(adapter.b.shape)}")
        with torch.no_grad():
            adapter.a.copy_(torch.from_numpy(np.asarray(a, np.float32)))
            adapter.b.copy_(torch.from_numpy(np.asarray(b, np.float32)))
    for name, adapter in present.items():  # adapters this voice does not have speak as the base model
        if name not in wanted:
            with torch.no_grad():
                adapter.b.zero_()
