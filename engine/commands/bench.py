"""``filter-engine bench``: time the whole pipeline on a generated corpus and print it.

With ``--device cpu|cuda`` it times a transformer classifier instead (``engine/bench/
transformer.py``): docs/s and windows/s at each ``--lengths`` window size. Without
``--model`` the model is MiniLM-L6-shaped (6 layers, 384 wide, 12 heads, seeded random
weights: the speed of all-MiniLM-L6-v2, none of its judgement) with a WordPiece tokenizer
trained on the generated corpus, so the command runs from an installed wheel with no
download.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

NAME = "bench"
HELP = ("time read -> match (10k terms) -> classify (native, every row) -> write on a "
        "generated corpus, at each worker count; prints MB/s per core and the machine; "
        "with --device, time a transformer classifier instead")
#: all-MiniLM-L6-v2's shape (vocab_size comes from the trained tokenizer).
MINILM_L6 = {"model_type": "bert", "hidden_act": "gelu", "hidden_size": 384,
             "num_attention_heads": 12, "num_hidden_layers": 6, "intermediate_size": 1536,
             "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}


def add_arguments(parser) -> None:
    parser.add_argument("--mb", type=float, default=128,
                        help="corpus size in MB of text (default 128)")
    parser.add_argument("--shards", type=int, default=4, help="Parquet shards (default 4)")
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated worker counts to time (default 1,2)")
    parser.add_argument("--patterns", type=int, default=10_000,
                        help="blocklist size (default 10000)")
    parser.add_argument("--workdir", help="where the corpus is cached (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="time a transformer classifier on this device instead")
    parser.add_argument("--model", help="with --device: a transformer model directory "
                        "(default: a MiniLM-L6-shaped model built here)")
    parser.add_argument("--lengths", default="128,512",
                        help="with --device: window sizes in tokens (default 128,512)")
    parser.add_argument("--docs", type=int, default=0, help="with --device: documents "
                        "(default 64 on cpu, 4096 on cuda)")
    parser.add_argument("--max-windows", type=int, default=16,
                        help="with --device: windows per document (default 16)")
    parser.add_argument("--token-budget", type=int, default=0, help="with --device: "
                        "tokens per batch (default 8192 on cpu, 131072 on cuda)")


def main(args) -> int:
    if args.device:
        return transformer_bench(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="filter-engine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from engine.bench.pipeline import format_results, machine, measure, prepare

    paths, spec = prepare(workdir, args.mb, args.shards, args.patterns)
    counts = [int(w) for w in args.workers.split(",") if w]
    results = [measure(paths, spec, w, workdir) for w in counts]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=1))
    else:
        print(format_results(results, info))
    return 0 if all(r["accounting_ok"] and r["exit_code"] == 0 for r in results) else 1


def transformer_bench(args) -> int:
    from engine.bench import transformer
    from engine.bench.pipeline import machine
    from engine.classify.session import missing_provider
    from engine.errors import fail

    problem = missing_provider(args.device)
    if problem:  # before a minute of model building
        raise fail("E038", directory=args.model or "(the MiniLM-L6-shaped bench model)",
                   problem=problem)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="filter-engine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cuda = args.device == "cuda"
    docs = transformer.documents(args.docs or (4096 if cuda else 64))
    budget = args.token_budget or (131_072 if cuda else 8192)
    results = []
    for length in (int(x) for x in args.lengths.split(",") if x):
        spec = {"max_chars": 100_000, "max_length": length, "stride": length // 4,
                "max_windows": args.max_windows, "token_budget": max(budget, length),
                "token_type_ids": True}
        model = Path(args.model) if args.model else minilm_shaped(workdir, docs, spec)
        results.append(transformer.measure(model, args.device, docs))
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=1))
    else:
        print(transformer.format_results(results))
    return 0


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
