"""Kokoro's weights read out of its float32 ONNX model into KokoroTorch's parameter names.

The export changed the weights' form, not their values: weight norm is folded into the convolutions
(anonymous initializers found through the nodes that use them), linear layers are MatMuls over [in, out]
matrices, LSTMs keep ONNX's gate order (input, output, forget, cell) where PyTorch wants (input, forget,
cell, output), and the embedding tables stay int8 with a DequantizeLinear after their Gather."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# the export names these predictor parts without their "predictor" parent
PREDICTOR_PARTS = ("F0", "N", "F0_proj", "N_proj", "shared")
ONNX_TO_TORCH_GATES = [0, 2, 3, 1]


def load_onnx_weights(model, path: Path) -> None:
    """Fill a KokoroTorch with the weights of the float32 ONNX model at `path`; raises if any is missing."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    found = {}
    for node in graph.node:
        weights = [values.get(name) for name in node.input]
        if node.op_type in ("Conv", "ConvTranspose"):
            module = _module(node.name)
            found[f"{module}.weight"] = weights[1]
            if len(weights) > 2:
                found[f"{module}.bias"] = weights[2]
        elif node.op_type == "MatMul" and weights[1] is not None:
            found[f"{_module(node.name)}.weight"] = weights[1].T
        elif node.op_type == "LSTM":
            found.update(_lstm(_module(node.name), *weights[1:4]))
        elif node.op_type == "DequantizeLinear":
            table = producer[node.input[0]].input[0]
            scale, zero = (values[name].astype(np.float32) for name in node.input[1:3])
            found[_torch_name(table.removesuffix("_quantized"))] = (values[table].astype(np.float32) - zero) * scale
    for name, value in values.items():  # biases, norms and Snake alphas keep their names
        found.setdefault(_torch_name(name), value)

    expected = model.state_dict()
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ValueError(f"{path.name} lacks {len(missing)} of Kokoro's parameters, e.g. {', '.join(missing[:5])}")
    model.load_state_dict({key: torch.from_numpy(np.array(found[key], dtype=np.float32)) for key in expected})


def _module(node: str) -> str:
    """The PyTorch module an ONNX node was exported from, from the node's name."""
    parts: list[str] = []
    for part in node.strip("/").split("/")[:-1]:
        part = re.sub(r"_\d+$", "", part)  # ALBERT's shared layer called again: query_1 ... query_11
        if parts and part.startswith(parts[-1] + "."):  # a Sequential's child repeats its name: cnn.0/cnn.0.0
            parts.pop()
        parts.append(part)
    return _torch_name(".".join(parts))


def _torch_name(name: str) -> str:
    """KokoroTorch's name for a name of the export (encoder.* and decoder.decoder.* at its top)."""
    if name.startswith("decoder.decoder."):
        return name.removeprefix("decoder.")
    name = name.removeprefix("encoder.")
    return f"predictor.{name}" if name.split(".")[0] in PREDICTOR_PARTS else name


def _lstm(module: str, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """A bidirectional ONNX LSTM's W [2, 4h, in], R [2, 4h, h] and B [2, 8h] as PyTorch's parameters."""

    def gates(x: np.ndarray) -> np.ndarray:
        return x.reshape(4, -1, *x.shape[1:])[ONNX_TO_TORCH_GATES].reshape(x.shape)

    found = {}
    for direction, suffix in enumerate(("", "_reverse")):
        input_bias, hidden_bias = np.split(b[direction], 2)
        found[f"{module}.weight_ih_l0{suffix}"] = gates(w[direction])
        found[f"{module}.weight_hh_l0{suffix}"] = gates(r[direction])
        found[f"{module}.bias_ih_l0{suffix}"] = gates(input_bias)
        found[f"{module}.bias_hh_l0{suffix}"] = gates(hidden_bias)
    return found
