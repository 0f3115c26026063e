"""Turn a dynamically quantised ONNX model (onnxruntime's `quantize_dynamic`) back into float32.

Kokoro ships only as int8 with dynamic quantisation: every MatMul and Conv quantises its input at run time,
multiplies integers and scales the result back. On CPUs without VNNI instructions the float32 kernels can
be faster; `castvoice bench tts` compares the two. The weights are the int8 ones dequantised, so the float
model says exactly what the int8 one would, without the run-time rounding of activations.
"""

from __future__ import annotations

import numpy as np


def dequantize_model(model):
    """A copy of the onnx `model` with MatMulInteger, ConvInteger and DynamicQuantizeLSTM replaced by float
    MatMul, Conv and LSTM over dequantised weights; the quantisation nodes left unused are dropped."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant(name: str) -> np.ndarray:
        return constants[name].astype(np.float32)

    def add_initializer(name: str, value: np.ndarray) -> str:
        if name not in constants:  # a weight that several nodes share is dequantised once
            constants[name] = value
            graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def float_bias(name: str) -> str:
        """The float bias initializer that a run-time quantised bias was computed from."""
        node = producer[name]
        while node.op_type != "Div":
            node = producer[node.input[0]]
        return node.input[0]

    position = {id(node): index for index, node in enumerate(graph.node)}
    replacements = {}  # index of the node to replace -> the float node
    for index, node in enumerate(graph.node):
        if node.op_type not in ("MatMulInteger", "ConvInteger"):
            continue
        source = producer[node.input[0]]
        assert source.op_type == "DynamicQuantizeLinear", source.op_type
        # integer op -> [Add (quantised bias)] -> Cast -> Mul(scale): the Mul's output is the float result
        bias = None
        tail = consumers[node.output[0]][0]
        if tail.op_type == "Add":
            bias = float_bias(tail.input[1])
            tail = consumers[tail.output[0]][0]
        assert tail.op_type == "Cast", tail.op_type
        rescale = consumers[tail.output[0]][0]
        assert rescale.op_type == "Mul", rescale.op_type
        scales = producer[rescale.input[1]]
        weight_scale = next(name for name in scales.input if name in constants)
        scale = constant(weight_scale)
        weights = constant(node.input[1]) - constant(node.input[3])
        name = f"{node.input[1]}_float"
        if node.op_type == "MatMulInteger":
            weights = weights * scale  # per output column: broadcasts along the last axis
            replacement = helper.make_node(
                "MatMul", [source.input[0], add_initializer(name, weights)], [rescale.output[0]], name=node.name)
        else:
            weights = weights * scale.reshape(-1, *[1] * (weights.ndim - 1))  # per output channel
            inputs = [source.input[0], add_initializer(name, weights)] + ([bias] if bias else [])
            replacement = helper.make_node("Conv", inputs, [rescale.output[0]], name=node.name)
            replacement.attribute.extend(node.attribute)
        # in the rescaling Mul's place, which comes after everything the float node reads
        replacements[position[id(rescale)]] = replacement

    for index, node in enumerate(graph.node):
        if node.op_type != "DynamicQuantizeLSTM":
            continue
        x, w, r, b, lengths, h0, c0, _peep, w_scale, w_zero, r_scale, r_zero = (list(node.input) + [""] * 12)[:12]

        def lstm_weights(q: str, scale: str, zero: str) -> np.ndarray:
            # quantised layout is [directions, inputs, 4 * hidden]; LSTM wants [directions, 4 * hidden, inputs]
            values = (constant(q) - constant(zero).reshape(-1, 1, 1)) * constant(scale).reshape(-1, 1, 1)
            return values.transpose(0, 2, 1)

        lstm = helper.make_node(
            "LSTM", [x, add_initializer(f"{w}_float", lstm_weights(w, w_scale, w_zero)),
                     add_initializer(f"{r}_float", lstm_weights(r, r_scale, r_zero)), b, lengths, h0, c0],
            list(node.output), name=node.name)
        lstm.attribute.extend(a for a in node.attribute if a.name in ("direction", "hidden_size", "input_forget"))
        replacements[index] = lstm

    nodes = [replacements.get(i, node) for i, node in enumerate(graph.node)]
    del graph.node[:]
    graph.node.extend(_used(nodes, {o.name for o in graph.output}))
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def _used(nodes: list, outputs: set[str]) -> list:
    """The nodes that the graph's outputs depend on, in their order."""
    producer = {out: node for node in nodes for out in node.output}
    needed, stack, seen = set(), list(outputs), set()
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        needed.add(id(node))
        stack.extend(i for i in node.input if i)
    return [node for node in nodes if id(node) in needed]
