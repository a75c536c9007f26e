"""engine.Classifier: scoring semantics, shipped models, and bad models refused at load."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pytest

from engine import Classifier, ModelError, SchemaError
from engine.classify.folded import folded_model
from engine.classify.hashed import make_featurizer, read_vocab
from engine.classify.rawtext import set_string_locale
from engine.defaults import models_dir
from engine.train.datasets import sms_spam_collection

SPAM = models_dir() / "spam-hashed"
PROFANITY = models_dir() / "profanity"


@pytest.fixture(scope="module")
def spam():
    return Classifier.load(SPAM)


@pytest.fixture
def spam_copy(tmp_path):
    target = tmp_path / "spam"
    shutil.copytree(SPAM, target)
    return target


def reference_scores(model_dir, texts):
    """Folded model by hand: featurize, gather the table, mean, sigmoid (float64)."""
    card = json.loads((model_dir / "model.json").read_text())
    fz = make_featurizer(read_vocab(model_dir / "vocab.txt"), card["featurizer"])
    table = onnx.numpy_helper.to_array(
        next(t for t in onnx.load(str(model_dir / "model.onnx")).graph.initializer
             if t.name == "table")).astype(np.float64)
    out = []
    for text in texts:
        data = np.frombuffer(text.encode(), np.uint8)
        ids, _ = fz.featurize(np.array([0, len(data)], np.int64), data)
        z = table[ids].mean() if len(ids) else 0.0
        out.append(1 / (1 + np.exp(-z)))
    return np.array(out)


# --- scoring ---------------------------------------------------------------------------


def test_spam_model_card_fields(spam):
    assert (spam.name, spam.kind, spam.labels, spam.score_label) == (
        "spam-hashed", "hashed-ngrams", ("ham", "spam"), "spam")
    assert spam.threshold == 0.5
    assert spam.card["quality"]["held_out"]["roc_auc"] > 0.95


def test_score_matches_hand_computed_folded_model(spam):
    texts, _ = sms_spam_collection()
    texts = texts[:300] + ["", "   ", "日本語", "WIN a FREE prize now!!! call 0800"]
    np.testing.assert_allclose(spam.score(texts), reference_scores(SPAM, texts), atol=2e-6)


def test_score_separates_spam_from_ham(spam):
    scores = spam.score(["WINNER!! You have won a £1000 cash prize. Call 09061701461 to claim",
                         "ok see you at home later, love you"])
    assert scores[0] > 0.5 > scores[1]


def test_nulls_score_nan_and_order_is_kept_across_chunks(spam):
    texts = ["free entry win cash", None, "see you later", "", None, "claim your prize"]
    flat = spam.score(texts)
    assert np.isnan(flat[[1, 4]]).all() and not np.isnan(flat[[0, 2, 3, 5]]).any()
    chunked = pa.chunked_array([pa.array(texts[:2]), pa.array(texts[2:5]), pa.array(texts[5:])])
    np.testing.assert_array_equal(spam.score(chunked), flat)
    sliced = pa.array(["junk", *texts, "junk"]).slice(1, len(texts))
    np.testing.assert_array_equal(spam.score(sliced), flat)
    np.testing.assert_array_equal(spam.score(pa.array(texts, pa.large_string())), flat)


def test_score_all_labels_rows_sum_to_one(spam):
    probs = spam.score(["hello there", "free prize call now"], all_labels=True)
    assert probs.shape == (2, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(probs[:, 1], spam.score(["hello there", "free prize call now"]))


def test_score_batches_large_inputs_like_small_ones(spam, monkeypatch):
    texts, _ = sms_spam_collection()
    whole = spam.score(texts[:500])
    monkeypatch.setattr("engine.classify.hashed.BATCH_BYTES", 997)
    np.testing.assert_array_equal(spam.score(texts[:500]), whole)


def test_score_empty_and_wrong_types(spam):
    assert spam.score([]).shape == (0,)
    with pytest.raises(SchemaError):
        spam.score(pa.array([1, 2, 3]))
    with pytest.raises(SchemaError):
        spam.score("one string")


def test_profanity_agrees_with_alt_profanity_check():
    pc = pytest.importorskip("profanity_check.profanity_check")
    clf = Classifier.load(PROFANITY)
    texts, _ = sms_spam_collection()
    texts += ["you are a fucking idiot", "have a lovely day", "this is bullshit", None]
    ours = clf.score(texts)
    assert np.isnan(ours[-1])
    theirs = pc.predict_prob(texts[:-1])
    ascii_rows = np.array([t.isascii() for t in texts[:-1]])
    assert np.abs(ours[:-1][ascii_rows] - theirs[ascii_rows]).max() < 1e-5
    # Non-ASCII text is lower-cased differently by onnxruntime (see the card's known_gap).
    assert np.mean((ours[:-1] >= 0.5) == (theirs >= 0.5)) >= 0.999
    assert clf.score(["you are a fucking idiot"])[0] > 0.9


def test_raw_text_graph_without_locale_is_fixed_at_load(tmp_path):
    target = tmp_path / "prof"
    shutil.copytree(PROFANITY, target)
    model = onnx.load(str(target / "model.onnx"))
    for node in model.graph.node:
        if node.op_type == "StringNormalizer":
            del node.attribute[[a.name for a in node.attribute].index("locale")]
    onnx.save_model(model, str(target / "model.onnx"))
    card = json.loads((target / "model.json").read_text())
    del card["model_sha256"]
    (target / "model.json").write_text(json.dumps(card))
    assert set_string_locale(onnx.load(str(target / "model.onnx")))
    clf = Classifier.load(target)
    np.testing.assert_allclose(clf.score(["go to hell"]),
                               Classifier.load(PROFANITY).score(["go to hell"]), atol=1e-7)


# --- bad model directories fail at load, with a code -----------------------------------


def load_error(path, **kwargs) -> str:
    with pytest.raises(ModelError) as info:
        Classifier.load(path, **kwargs)
    return str(info.value)


def test_missing_card_is_refused(spam_copy):
    (spam_copy / "model.json").unlink()
    assert load_error(spam_copy).startswith("[E032] model dir")


def test_missing_directory_and_graph_are_refused(spam_copy, tmp_path):
    assert "[E032]" in load_error(tmp_path / "nope")
    (spam_copy / "model.onnx").unlink()
    assert "[E032]" in load_error(spam_copy)


def test_malformed_card_is_refused(spam_copy):
    (spam_copy / "model.json").write_text("{not json")
    assert "[E033]" in load_error(spam_copy)
    (spam_copy / "model.json").write_text(json.dumps({"format": "filter-engine/model",
                                                      "format_version": 1, "kind": "magic"}))
    assert "[E033]" in load_error(spam_copy)


def test_corrupt_model_file_is_refused(spam_copy):
    data = (spam_copy / "model.onnx").read_bytes()
    (spam_copy / "model.onnx").write_bytes(data[: len(data) // 3])
    assert "[E034]" in load_error(spam_copy)  # caught by the card's sha256
    card = json.loads((spam_copy / "model.json").read_text())
    del card["model_sha256"]
    (spam_copy / "model.json").write_text(json.dumps(card))
    assert "[E034]" in load_error(spam_copy)  # caught by the parser


def rewrite_graph(directory, edit):
    model = onnx.load(str(directory / "model.onnx"))
    edit(model)
    onnx.save_model(model, str(directory / "model.onnx"))
    card = json.loads((directory / "model.json").read_text())
    del card["model_sha256"]
    (directory / "model.json").write_text(json.dumps(card))


def test_wrong_input_names_are_refused(spam_copy):
    def rename(model):
        model.graph.input[0].name = "token_ids"
        for node in model.graph.node:
            node.input[:] = ["token_ids" if x == "ids" else x for x in node.input]

    rewrite_graph(spam_copy, rename)
    message = load_error(spam_copy)
    assert "[E036]" in message and "token_ids" in message


def test_external_data_outside_the_directory_is_refused(spam_copy):
    outside = spam_copy.parent / "table.bin"

    def externalize(model):
        table = next(t for t in model.graph.initializer if t.name == "table")
        outside.write_bytes(table.raw_data)
        table.ClearField("raw_data")
        table.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", "../table.bin"), ("offset", "0")):
            entry = table.external_data.add()
            entry.key, entry.value = key, value

    rewrite_graph(spam_copy, externalize)
    assert "[E035]" in load_error(spam_copy)


def test_vocabulary_that_does_not_match_is_refused(spam_copy):
    words = (spam_copy / "vocab.txt").read_bytes().split(b"\n")
    (spam_copy / "vocab.txt").write_bytes(b"\n".join(words[1:]))
    assert "[E037]" in load_error(spam_copy)


def test_graph_from_another_export_is_refused(spam_copy):
    card = json.loads((spam_copy / "model.json").read_text())
    card["featurizer"]["word_ngrams"] = 3
    (spam_copy / "model.json").write_text(json.dumps(card))
    assert "[E037]" in load_error(spam_copy)


def test_cuda_without_the_cuda_provider_is_a_clear_error():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this host has onnxruntime-gpu")
    message = load_error(SPAM, device="cuda")
    assert "[E038]" in message and "onnxruntime-gpu" in message


def test_bad_device_and_threads_are_refused():
    assert "[E038]" in load_error(SPAM, device="tpu")
    assert "[E038]" in load_error(SPAM, threads=0)


def test_folded_graph_rejects_mismatched_table_shape():
    with pytest.raises(ValueError):
        folded_model(np.zeros((4, 2), np.float32), "binary", {})


def test_session_uses_the_requested_threads_without_spinning():
    clf = Classifier.load(SPAM, threads=2)
    options = clf._backend.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_trained_model_reads_past_a_literal_eos_token(spam):
    """fastText stops at a literal </s>; models trained here must not (evasion)."""
    assert spam.card["featurizer"]["eos_stops_document"] is False
    hidden = spam.score(["ok </s> WINNER!! claim your FREE cash prize now, call 09061701461"])
    assert hidden[0] > spam.score(["ok"])[0] + 0.2


# --- issue 8: raw-text models with external data ------------------------------------------
TINY_WORDS = ["hello", "damn", "lovely", "hell"]
TINY_WEIGHTS = np.array([[2.0, -2.0], [-3.0, 3.0], [2.5, -2.5], [-2.0, 2.0]], np.float32)


def tiny_raw_text(directory, extra_nodes=(), functions=()):
    """A real raw-text model (lower-case, whole-text TF-IDF, MatMul, softmax) whose
    StringNormalizer has no locale (so the load fixes it in memory) and whose weight matrix
    lives in ``w.bin`` beside the graph, written by onnx.external_data_helper."""
    from onnx import external_data_helper, helper, numpy_helper

    from engine.train.export import write_card

    directory.mkdir(parents=True, exist_ok=True)
    nodes = [
        helper.make_node("Constant", [], ["axis"],
                         value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("StringNormalizer", ["text"], ["lower"], case_change_action="LOWER"),
        helper.make_node("Unsqueeze", ["lower", "axis"], ["column"]),
        helper.make_node("TfIdfVectorizer", ["column"], ["tf"], mode="TF", min_gram_length=1,
                         max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                         ngram_indexes=list(range(len(TINY_WORDS))), pool_strings=TINY_WORDS),
        helper.make_node("MatMul", ["tf", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        *extra_nodes,
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("text", onnx.TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(TINY_WEIGHTS, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              functions=list(functions))
    model.ir_version = 8
    external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="w.bin", size_threshold=0,
        convert_attribute=False)
    onnx.save_model(model, str(directory / "model.onnx"))
    assert (directory / "w.bin").stat().st_size == TINY_WEIGHTS.nbytes
    write_card(directory, name="tiny", kind="raw-text", labels=["clean", "profane"],
               score_label="profane", threshold=0.5,
               settings={"raw_text": {"input": "text", "output": "probabilities"}},
               provenance=None)
    return directory


def tiny_expected(texts):
    logits = np.array([TINY_WEIGHTS[TINY_WORDS.index(t.lower())] if t.lower() in TINY_WORDS
                       else np.zeros(2) for t in texts], np.float64)
    return 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))


def test_issue_8_raw_text_model_with_external_data_loads_from_another_directory(
        tmp_path, monkeypatch):
    model_dir = tiny_raw_text(tmp_path / "models" / "tiny")
    assert set_string_locale(onnx.load(str(model_dir / "model.onnx"),
                                       load_external_data=False))  # the fix-up path runs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    decoy = TINY_WEIGHTS[:, ::-1].copy()  # a w.bin in the current directory is never read
    (elsewhere / "w.bin").write_bytes(decoy.tobytes())
    monkeypatch.chdir(elsewhere)
    texts = ["Damn", "hello", "nothing", "HELL"]
    for path in (model_dir, "../models/tiny"):
        clf = Classifier.load(path)
        assert clf.kind == "raw-text"
        np.testing.assert_allclose(clf.score(texts), tiny_expected(texts), atol=1e-6)
    (elsewhere / "w.bin").unlink()
    np.testing.assert_allclose(Classifier.load(model_dir).score(texts), tiny_expected(texts),
                               atol=1e-6)


def external(tensor, location):
    """Point ``tensor`` at external data ``location`` (its bytes are dropped)."""
    from onnx import external_data_helper

    external_data_helper.set_external_data(tensor, location=location, offset=0,
                                           length=len(tensor.raw_data) or 8)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    return tensor


def sparse_constant(location):
    from onnx import helper, numpy_helper

    values = external(numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "v"),
                      location)
    indices = numpy_helper.from_array(np.array([0, 3], np.int64), "i")
    sparse = helper.make_sparse_tensor(values, indices, [4])
    return helper.make_node("Constant", [], ["unused"], sparse_value=sparse)


def function_with_constant(location):
    from onnx import helper, numpy_helper

    const = helper.make_node("Constant", [], ["c"], value=external(
        numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "c"), location))
    add = helper.make_node("Add", ["x", "c"], ["y"])
    return helper.make_function("local", "AddConst", ["x"], ["y"], [const, add],
                                [helper.make_opsetid("", 17)])


def test_issue_8_external_data_checks_the_file_actually_opened(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 64)

    def refused(directory, *needles):
        message = load_error(directory)
        assert message.startswith("[E035]"), message
        for needle in needles:
            assert needle in message, message

    hard = tiny_raw_text(tmp_path / "hard")  # w.bin is a hard link to a file outside
    os.replace(hard / "w.bin", tmp_path / "weights.bin")
    os.link(tmp_path / "weights.bin", hard / "w.bin")
    refused(hard, "'w.bin'", "hard link")

    soft = tiny_raw_text(tmp_path / "soft")  # w.bin is a symlink out of the directory
    os.replace(soft / "w.bin", tmp_path / "soft-weights.bin")
    os.symlink(tmp_path / "soft-weights.bin", soft / "w.bin")
    refused(soft, "'w.bin'", "outside the model directory")

    refused(tiny_raw_text(tmp_path / "sparse", [sparse_constant("../secret.bin")]),
            "'../secret.bin'")
    func = tiny_raw_text(tmp_path / "func", functions=[function_with_constant("../secret.bin")])
    refused(func, "'../secret.bin'")
    refused(tiny_raw_text(tmp_path / "nul", [sparse_constant("w.bin\x00../../secret.bin")]),
            "NUL")
    refused(tiny_raw_text(tmp_path / "mem", [sparse_constant("*/_ORT_MEM_ADDR_/*")]),
            "_ORT_MEM_ADDR_")
    fifo = tiny_raw_text(tmp_path / "fifo", [sparse_constant("pipe")])
    os.mkfifo(fifo / "pipe")  # a FIFO inside the directory would hang onnxruntime
    refused(fifo, "'pipe'", "not a regular file")
