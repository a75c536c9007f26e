"""Build a BERT-family encoder as an ONNX graph straight from ``config.json`` +
``model.safetensors`` (no PyTorch needed).

Covers the plain BERT architecture (``BertModel``: absolute positions, post-LayerNorm,
GELU, as in MiniLM and all-MiniLM-L6-v2). The graph takes ``input_ids``,
``attention_mask`` and ``token_type_ids`` (int64 ``[B, L]``) and returns
``last_hidden_state`` (``[B, L, H]``); ``engine.classify.transformer`` adds the head.
Safetensors is read directly (an 8-byte header length, a JSON header, raw little-endian
tensors); nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.errors import fail

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as float32/int64 NumPy arrays."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise fail("E030", source=f"safetensors '{path}'", problem=f"tensor {name} has "
                       f"dtype {info['dtype']}; only F32/F16/I64 are read")
        start, end = info["data_offsets"]
        array = np.frombuffer(data, dtype, (end - start) // np.dtype(dtype).itemsize,
                              base + start).reshape(info["shape"])
        out[name] = array.astype(np.float32) if dtype == np.float16 else array
    return out


def bert_encoder(model_dir: str | Path) -> onnx.ModelProto:
    """The encoder described by ``model_dir/config.json`` with its safetensors weights."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise fail("E030", source=f"model dir '{model_dir}'", problem="only BERT models with "
                   f"GELU are built here (got {config.get('model_type')}/"
                   f"{config.get('hidden_act')})")
    weights = read_safetensors(model_dir / "model.safetensors")
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(key: str, transpose: bool = False) -> str:
        value = weights[key].astype(np.float32)
        return const(key, np.ascontiguousarray(value.T if transpose else value))

    def add(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        y = add("MatMul", [x, weight(f"{prefix}.weight", transpose=True)], f"{out}_mm")
        return add("Add", [y, weight(f"{prefix}.bias")], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return add("LayerNormalization", [x, weight(f"{prefix}.weight"),
                                          weight(f"{prefix}.bias")], out, axis=-1, epsilon=eps)

    const("axis12", np.array([1, 2], np.int64))
    const("one_f", np.array(1.0, np.float32))
    const("mask_min", np.array(np.finfo(np.float32).min, np.float32))
    const("sqrt2", np.array(math.sqrt(2), np.float32))
    const("half", np.array(0.5, np.float32))
    const("scale", np.array(math.sqrt(head_dim), np.float32))
    const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    const("merge_shape", np.array([0, 0, hidden], np.int64))
    const("zero_i", np.array(0, np.int64))
    const("one_i", np.array(1, np.int64))

    # embeddings: word + position + token type, then LayerNorm
    add("Shape", ["input_ids"], "ids_shape")
    add("Gather", ["ids_shape", "one_i"], "seq_len")
    add("Range", ["zero_i", "seq_len", "one_i"], "positions")
    add("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "e_word")
    add("Gather", [weight("embeddings.position_embeddings.weight"), "positions"], "e_pos")
    add("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"],
        "e_type")
    add("Add", ["e_word", "e_pos"], "e_wp")
    add("Add", ["e_wp", "e_type"], "e_sum")
    x = layer_norm("e_sum", "embeddings.LayerNorm", "x0")

    # additive attention mask [B, 1, 1, L]: 0 where attended, float32 min where padded
    add("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    add("Unsqueeze", ["mask_f", "axis12"], "mask_4d")
    add("Sub", ["one_f", "mask_4d"], "mask_inv")
    add("Mul", ["mask_inv", "mask_min"], "mask_bias")

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        heads_of = {}
        for part in ("query", "key", "value"):
            y = linear(x, f"{p}.attention.self.{part}", f"l{i}_{part}")
            y = add("Reshape", [y, "split_shape"], f"l{i}_{part}_split")
            perm = [0, 2, 3, 1] if part == "key" else [0, 2, 1, 3]
            heads_of[part] = add("Transpose", [y], f"l{i}_{part}_heads", perm=perm)
        scores = add("MatMul", [heads_of["query"], heads_of["key"]], f"l{i}_scores")
        scores = add("Div", [scores, "scale"], f"l{i}_scaled")
        scores = add("Add", [scores, "mask_bias"], f"l{i}_masked")
        probs = add("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = add("MatMul", [probs, heads_of["value"]], f"l{i}_ctx")
        ctx = add("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3])
        ctx = add("Reshape", [ctx, "merge_shape"], f"l{i}_ctx_merged")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}_attn")
        attn = add("Add", [attn, x], f"l{i}_attn_res")
        x = layer_norm(attn, f"{p}.attention.output.LayerNorm", f"l{i}_attn_ln")
        ff = linear(x, f"{p}.intermediate.dense", f"l{i}_ff1")
        erf = add("Erf", [add("Div", [ff, "sqrt2"], f"l{i}_ff1_s")], f"l{i}_erf")
        erf1 = add("Add", [erf, "one_f"], f"l{i}_erf1")
        # x * (1 + erf(x / sqrt 2)) * 0.5: the form onnxruntime's optimizer fuses into Gelu
        gelu = add("Mul", [add("Mul", [ff, erf1], f"l{i}_ff1_e"), "half"], f"l{i}_gelu")
        ff = linear(gelu, f"{p}.output.dense", f"l{i}_ff2")
        ff = add("Add", [ff, x], f"l{i}_ff_res")
        x = layer_norm(ff, f"{p}.output.LayerNorm", f"l{i}_out")
    add("Identity", [x], "last_hidden_state")

    seq = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes, "bert_encoder",
        [helper.make_tensor_value_info(n, TensorProto.INT64, seq)
         for n in ("input_ids", "attention_mask", "token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       [*seq, hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="filter-engine")
    model.ir_version = 8
    return model
