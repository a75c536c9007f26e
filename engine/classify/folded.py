"""The "folded" ONNX graph of a hashed n-gram linear model (fastText's supervised model).

fastText scores a document as ``act(O · mean(E[ids]))``. The model is linear up to the
activation, so ``O · mean(E[ids]) = mean((E Oᵀ)[ids])``: the graph keeps one row of k
floats per id (``table = E Oᵀ``) instead of a dim-wide embedding, and for two softmax
labels a single float per id (``w = E (O₁ − O₀)``, then a sigmoid). Both are exact.

Pooling is a float64 cumulative sum read at the document offsets: one pass, no scatter.
(``ScatterElements`` over ``[N, dim]`` runs ~180× slower in onnxruntime on CPU.)

Inputs: ``ids`` int32[N] and ``offsets`` int64[B + 1] (document b owns
``ids[offsets[b]:offsets[b + 1]]``). Output: ``probabilities`` float32[B, k]. A document
with no ids scores ``act(0)``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Graph input and output names the loader checks.
IDS, OFFSETS, OUTPUT = "ids", "offsets", "probabilities"

#: How logits become probabilities: a 1-column table with a sigmoid (two softmax labels,
#: folded), a k-column table with softmax, or k independent sigmoids read from fastText's
#: 512-step sigmoid table ("ova", what fastText's one-vs-all and ns losses predict with).
ACTIVATIONS = ("binary", "softmax", "ova")

#: fastText's ``Loss`` sigmoid table: ``MAX_SIGMOID`` 8, ``SIGMOID_TABLE_SIZE`` 512.
MAX_SIGMOID, SIGMOID_TABLE_SIZE = 8.0, 512

OPSET = 17


def fasttext_sigmoid_table() -> np.ndarray:
    """``t_sigmoid_`` exactly as fastText fills it (float32 x, double exp, float32 value)."""
    i = np.arange(SIGMOID_TABLE_SIZE + 1, dtype=np.float64)
    x = (i * 2 * MAX_SIGMOID / SIGMOID_TABLE_SIZE - MAX_SIGMOID).astype(np.float32)
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def folded_model(table: np.ndarray, activation: str, metadata: dict[str, str]) -> onnx.ModelProto:
    """Build the folded graph.

    Args:
        table: ``float32[V]`` for ``activation="binary"`` (score of label 1 minus label 0),
            else ``float32[V, k]`` (one logit per label).
        activation: one of ``ACTIVATIONS``.
        metadata: strings stored in the model's ``metadata_props`` (the featurizer spec,
            so graph and featurizer cannot drift apart unnoticed).

    Returns:
        The ONNX model (opset 17).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} not in {ACTIVATIONS}")
    table = np.ascontiguousarray(table, dtype=np.float32)
    if (activation == "binary") != (table.ndim == 1):
        raise ValueError("binary models take a 1-D table; softmax/sigmoid a 2-D [V, k] table")
    width = 1 if table.ndim == 1 else table.shape[1]
    const = {
        "zero_row": np.zeros((1,) if table.ndim == 1 else (1, width), np.float64),
        "one_i": np.array([1], np.int64),
        "zero_i": np.array([0], np.int64),
        "minus_one_i": np.array([-1], np.int64),
        "big_i": np.array([np.iinfo(np.int64).max], np.int64),
        "axis0": np.array(0, np.int64),
        "one_len": np.array(1.0, np.float64),
    }
    inits = [numpy_helper.from_array(table, "table")]
    inits += [numpy_helper.from_array(v, k) for k, v in const.items()]
    node = helper.make_node
    # GatherElements, not Gather: same result here, but onnxruntime's Gather copies element
    # by element through a generic path and ran ~8x slower on a 2M-row table (measured).
    if table.ndim == 1:
        nodes = [node("GatherElements", ["table", IDS], ["rows"], axis=0)]
    else:
        inits.append(numpy_helper.from_array(np.array([1, width], np.int64), "row_shape"))
        nodes = [
            node("Unsqueeze", [IDS, "one_i"], ["ids_col"]),
            node("Expand", ["ids_col", "row_shape"], ["ids_rows"]),
            node("GatherElements", ["table", "ids_rows"], ["rows"], axis=0),
        ]
    nodes += [
        node("Cast", ["rows"], ["rows64"], to=TensorProto.DOUBLE),
        node("CumSum", ["rows64", "axis0"], ["running"]),
        node("Concat", ["zero_row", "running"], ["prefix"], axis=0),
        node("Gather", ["prefix", OFFSETS], ["at_offsets"], axis=0),
        node("Slice", ["at_offsets", "one_i", "big_i", "zero_i"], ["ends"]),
        node("Slice", ["at_offsets", "zero_i", "minus_one_i", "zero_i"], ["starts"]),
        node("Sub", ["ends", "starts"], ["sums"]),
        node("Slice", [OFFSETS, "one_i", "big_i", "zero_i"], ["off_end"]),
        node("Slice", [OFFSETS, "zero_i", "minus_one_i", "zero_i"], ["off_start"]),
        node("Sub", ["off_end", "off_start"], ["lengths_i"]),
        node("Cast", ["lengths_i"], ["lengths_f"], to=TensorProto.DOUBLE),
        node("Max", ["lengths_f", "one_len"], ["lengths"]),
    ]
    if table.ndim == 1:
        nodes += [
            node("Div", ["sums", "lengths"], ["mean64"]),
            node("Cast", ["mean64"], ["mean"], to=TensorProto.FLOAT),
            node("Sigmoid", ["mean"], ["p1"]),
            node("Neg", ["mean"], ["neg_mean"]),
            node("Sigmoid", ["neg_mean"], ["p0"]),
            node("Unsqueeze", ["p0", "one_i"], ["p0_col"]),
            node("Unsqueeze", ["p1", "one_i"], ["p1_col"]),
            node("Concat", ["p0_col", "p1_col"], [OUTPUT], axis=1),
        ]
    else:
        nodes += [
            node("Unsqueeze", ["lengths", "one_i"], ["lengths_col"]),
            node("Div", ["sums", "lengths_col"], ["mean64"]),
            node("Cast", ["mean64"], ["mean"], to=TensorProto.FLOAT),
        ]
        if activation == "softmax":
            nodes.append(node("Softmax", ["mean"], [OUTPUT], axis=1))
        else:
            nodes += _table_sigmoid("mean", OUTPUT, inits)
    k = 2 if table.ndim == 1 else width
    graph = helper.make_graph(
        nodes,
        "hashed_ngrams_folded",
        [
            helper.make_tensor_value_info(IDS, TensorProto.INT32, ["n_ids"]),
            helper.make_tensor_value_info(OFFSETS, TensorProto.INT64, ["n_docs_plus_1"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n_docs", k])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="filter-engine"
    )
    model.ir_version = 8
    for key, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    return model


def _table_sigmoid(x: str, out: str, inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """fastText's ``Loss::sigmoid``: 0 below -8, 1 above 8, else
    ``t_sigmoid_[int((x + 8) * 512 / 8 / 2)]`` (every step exact in float32)."""
    inits += [
        numpy_helper.from_array(fasttext_sigmoid_table(), "sigmoid_table"),
        numpy_helper.from_array(np.array(MAX_SIGMOID, np.float32), "max_sigmoid"),
        numpy_helper.from_array(np.array(-MAX_SIGMOID, np.float32), "min_sigmoid"),
        numpy_helper.from_array(np.array(SIGMOID_TABLE_SIZE / MAX_SIGMOID / 2, np.float32),
                                "sigmoid_scale"),
        numpy_helper.from_array(np.array(SIGMOID_TABLE_SIZE, np.float32), "last_slot"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one_f"),
    ]
    node = helper.make_node
    return [
        node("Add", [x, "max_sigmoid"], ["shifted"]),
        node("Mul", ["shifted", "sigmoid_scale"], ["position"]),
        node("Floor", ["position"], ["floored"]),
        node("Clip", ["floored", "zero_f", "last_slot"], ["clipped"]),
        node("Cast", ["clipped"], ["index"], to=TensorProto.INT64),
        node("Gather", ["sigmoid_table", "index"], ["looked_up"]),
        node("Less", [x, "min_sigmoid"], ["is_below"]),
        node("Greater", [x, "max_sigmoid"], ["is_above"]),
        node("Where", ["is_above", "one_f", "looked_up"], ["capped"]),
        node("Where", ["is_below", "zero_f", "capped"], [out]),
    ]
