"""A MiniLM-L6-shaped transformer classifier with seeded random weights, for
``filter-engine bench --device``: the speed of all-MiniLM-L6-v2, none of its judgement,
built from the generated corpus so that the benchmark needs no download.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

#: all-MiniLM-L6-v2's shape (vocab_size comes from the trained tokenizer).
MINILM_L6 = {"model_type": "bert", "hidden_act": "gelu", "hidden_size": 384,
             "num_attention_heads": 12, "num_hidden_layers": 6, "intermediate_size": 1536,
             "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}


def minilm_shaped(workdir: Path, docs, spec: dict) -> Path:
    """A MiniLM-L6-shaped classifier (seeded random weights) under ``workdir``."""
    from engine.classify.transformer import add_classification_head
    from engine.errors import fail
    from engine.train.bert_export import bert_encoder
    from engine.train.export import save_transformer_model

    try:
        import tokenizers
    except ImportError as err:
        raise fail("E005", feature="bench --device", package="tokenizers",
                   install="'filter-engine[transformer]'") from err
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(docs.to_pylist(), tokenizers.trainers.WordPieceTrainer(
        vocab_size=8000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
        show_progress=False))
    tok.post_processor = tokenizers.processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    source = workdir / "minilm-l6-shaped"
    source.mkdir(exist_ok=True)
    tok.save(str(source / "tokenizer.json"))
    config: dict[str, Any] = {**MINILM_L6, "vocab_size": tok.get_vocab_size()}
    (source / "config.json").write_text(json.dumps(config))
    write_safetensors(source / "model.safetensors", random_bert(config, seed=0))
    rng = np.random.default_rng(1)
    hidden = config["hidden_size"]
    model = add_classification_head(bert_encoder(source), "last_hidden_state",
                                    rng.normal(size=(hidden, 2)) / hidden, np.zeros(2))
    return save_transformer_model(
        workdir / f"minilm-l6-shaped-{spec['max_length']}", name="minilm-l6-shaped",
        model=model, tokenizer_file=source / "tokenizer.json", labels=["ok", "flag"],
        score_label="flag", threshold=0.5, spec=spec)


def random_bert(config: dict, seed: int) -> dict[str, np.ndarray]:
    """BERT weights named as ``BertModel`` names them, N(0, 0.02) like its initializer."""
    rng = np.random.default_rng(seed)
    h, inner = config["hidden_size"], config["intermediate_size"]
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], h),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        for name, out, into in (("attention.self.query", h, h), ("attention.self.key", h, h),
                                ("attention.self.value", h, h),
                                ("attention.output.dense", h, h),
                                ("intermediate.dense", inner, h), ("output.dense", h, inner)):
            shapes[f"{p}.{name}.weight"] = (out, into)
            shapes[f"{p}.{name}.bias"] = (out,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}.{norm}.weight"] = shapes[f"{p}.{norm}.bias"] = (h,)
    return {name: (np.ones(shape, np.float32) if name.endswith("LayerNorm.weight")
                   else rng.normal(0, 0.02, shape).astype(np.float32))
            for name, shape in shapes.items()}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The format ``bert_export.read_safetensors`` reads: length, JSON header, raw data."""
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    blob = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for array in tensors.values():
            fh.write(np.ascontiguousarray(array, "<f4").tobytes())
