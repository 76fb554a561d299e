"""Quantising an ONNX model to int8 with ONNX Runtime: dynamically for dense, recurrent, attention and embedding
layers, statically (QDQ, with calibration rows) when the model has convolutions; and tidying an ONNX file of the
exporter's build notes. No torch here.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from engine.errors import UserError

# Op types whose presence after quantisation means something is stored or computed in 8 bits.
INT8_OPS = {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
            "QLinearConv", "QLinearMatMul", "DynamicQuantizeLSTM", "QAttention", "QGemm", "DynamicQuantizeMatMul"}
LAYER_WORDS = {"Gemm": "dense", "MatMul": "matrix product", "Conv": "convolution", "LSTM": "LSTM", "GRU": "GRU",
               "Gather": "embedding", "Attention": "attention"}


def _dense_as_matmul(model):
    """Give back model with each Gemm on constant weights written as MatMul + Add.

    The dynamo exporter writes a dense layer as Gemm, which ONNX Runtime's dynamic quantisation leaves in float;
    as MatMul with the same weights it becomes an int8 matrix product.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in weights or attributes.get("transA", 0)
                or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        w = np.ascontiguousarray(w.T if attributes.get("transB", 0) else w)
        name = f"{node.input[1]}_for_matmul"
        graph.initializer.append(numpy_helper.from_array(w, name))
        if len(node.input) > 2 and node.input[2]:
            product = f"{node.output[0]}_product"
            nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}_matmul"))
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"))
        else:
            nodes.append(helper.make_node("MatMul", [node.input[0], name], [node.output[0]],
                                          name=f"{node.name}_matmul"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def without_build_notes(model):
    """Give back model without what the exporter notes for debugging and ONNX Runtime never reads: each node's
    metadata (among it the source file and line it came from, with this computer's folders), doc strings, and the
    inferred shapes of values inside the graph. On a small network these notes weigh more than its weights."""
    def tidy(graph) -> None:
        del graph.value_info[:]
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                for inner in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    tidy(inner)

    tidy(model.graph)
    return model


def tidy_file(path: Path) -> None:
    """Rewrite the ONNX file at path without its build notes (without_build_notes)."""
    import onnx

    onnx.save(without_build_notes(onnx.load(str(path))), str(path))


class _TrainingRows:
    """ONNX Runtime's calibration reader (CalibrationDataReader's get_next) over batches of training rows."""

    def __init__(self, x: np.ndarray, batch: int = 32):
        self.batches = iter([{"input": x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _layers(path: Path) -> Counter:
    import onnx

    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def _weighted_layers(path: Path) -> list[str]:
    """Give back the op types of the model's nodes that hold weights (a constant input), or all its op types."""
    import onnx

    model = onnx.load(str(path))
    constants = {tensor.name for tensor in model.graph.initializer}
    weighted = sorted({node.op_type for node in model.graph.node if any(i in constants for i in node.input)})
    return weighted or sorted({node.op_type for node in model.graph.node})


def quantize_file(source: Path, target: Path, calibration: np.ndarray) -> str:
    """Write the int8 version of the ONNX model at source to target; give back the method, "static" or "dynamic".

    Convolutions are quantised statically (QDQ) with ranges measured on calibration rows; everything else
    dynamically; weights with a scale per output channel either way, in 7 bits (reduce_range): processors without
    VNNI instructions (AVX2 alone) multiply unsigned 8-bit activations by signed 8-bit weights in pairs that can
    overflow, and an ensemble table network's int8 answers moved by up to 11 in log-probability on one.
    Raises UserError naming the layers when nothing could be quantised.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    before = _layers(source)
    method = "static" if before.get("Conv") or before.get("ConvTranspose") else "dynamic"
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # ONNX Runtime's advice to pre-process, printed through the root logger
    try:
        if method == "static":
            quantize_static(str(source), str(target), _TrainingRows(calibration), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=True)
        else:
            # one scale per output column rather than per layer: the pretrained text model's test accuracy drops
            # 0.8 points instead of 1.5 on the fine food reviews (bench/compression.py)
            quantize_dynamic(_dense_as_matmul(onnx.load(str(source))), str(target), weight_type=QuantType.QInt8,
                             per_channel=True, reduce_range=True)
    except Exception as error:
        raise UserError(f"ONNX Runtime could not make an int8 version of this model ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200] if str(error) else ''}); its layers with weights are "
                        f"{', '.join(_weighted_layers(source))}.") from None
    finally:
        logger.setLevel(level)
    tidy_file(target)
    after = _layers(target)
    if not INT8_OPS & set(after):
        raise UserError("ONNX Runtime found nothing in this model it can store in int8: its layers with weights are "
                        f"{', '.join(_weighted_layers(source))}, and int8 covers dense, convolution, recurrent (LSTM), "
                        "attention and embedding layers. Keep the original model.")
    return method
