"""Long documents scored as overlapping windows, checked against a naive reference.

The reference tokenizes each document without truncation, slices the text tokens into
windows by hand, adds ``[CLS]``/``[SEP]``, runs every window alone through the same
onnxruntime session with ``session.run`` (no IO binding, no batching) and reduces in
Python. The documents are real SMS messages joined into texts of 1 to 40 windows; the
model is the small self-attention encoder of ``test_classifier_transformer.py``, where
padding or window mistakes change the scores.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine import Classifier, ModelError
from engine.train.datasets import sms_spam_collection
from tests.test_classifier_transformer import small_model, sms_tokenizer

tokenizers = pytest.importorskip("tokenizers")
WINDOW = {"max_chars": 100_000, "max_length": 32, "token_budget": 160, "stride": 8,
          "max_windows": 6}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("windows")
    sms_tokenizer(path / "tok.json")
    return path


@pytest.fixture(scope="module")
def documents():
    """Real text of every size: single messages and runs of 2 to 60 messages."""
    texts, _ = sms_spam_collection()
    rng = np.random.default_rng(7)
    docs = list(texts[:30])
    start = 30
    for size in rng.integers(2, 60, 30):
        docs.append(" ".join(texts[start : start + size]))
        start += size
    return docs


def model(root, name, **settings):
    return Classifier.load(small_model(root / name, root / "tok.json", {**WINDOW, **settings}))


def naive(clf, texts, spec):
    """Score each window alone with ``session.run``; reduce per label in Python."""
    tok = tokenizers.Tokenizer.from_file(str(clf._card.directory / "tokenizer.json"))
    assert tok.truncation is None
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    room = spec["max_length"] - 2
    step = room - spec["stride"]
    out, counts = [], []
    for text in texts:
        body = tok.encode(text[: spec["max_chars"]], add_special_tokens=False).ids
        starts = [0]
        while starts[-1] + room < len(body):
            starts.append(starts[-1] + step)
        starts = starts[: spec["max_windows"]]
        rows = []
        for s in starts:
            ids = np.array([[cls, *body[s : s + room], sep]], np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            rows.append(clf._backend.session.run(["probabilities"], feed)[0][0])
        out.append(np.max(rows, 0) if spec["reduce"] == "max" else np.mean(rows, 0))
        counts.append(len(starts))
    return np.array(out), counts


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_windows_equal_the_naive_reference(root, documents, reduce):
    clf = model(root, f"w-{reduce}", reduce=reduce)
    expected, counts = naive(clf, documents, {**WINDOW, "reduce": reduce})
    assert min(counts) == 1 and max(counts) == WINDOW["max_windows"]  # short, capped
    assert any(1 < c < WINDOW["max_windows"] for c in counts)
    got = clf.score(documents, all_labels=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    ids, owner = clf._backend.windows(documents)
    assert np.bincount(owner).tolist() == counts
    assert all(len(w) <= WINDOW["max_length"] for w in ids)
    shuffled = np.random.default_rng(0).permutation(len(documents))
    again = clf.score([documents[i] for i in shuffled], all_labels=True)
    np.testing.assert_allclose(again, got[shuffled], atol=1e-5)


def test_documents_within_one_window_score_as_before(root, documents):
    today = Classifier.load(small_model(root / "today", root / "tok.json",
                                        {"max_chars": 100_000, "max_length": 32,
                                         "token_budget": 160}))
    windowed = model(root, "w-short")
    short = [d for d in documents if len(windowed._backend.windows([d])[0]) == 1]
    assert len(short) >= 8
    np.testing.assert_array_equal(windowed.score(short, all_labels=True),
                                  today.score(short, all_labels=True))
    # and max_windows = 1 on a long document is today's truncation
    one = model(root, "w-one", max_windows=1)
    np.testing.assert_array_equal(one.score(documents, all_labels=True),
                                  today.score(documents, all_labels=True))


def test_more_windows_see_more_of_the_document(root, documents):
    """A spam passage past the first window moves the max score only when windows reach it."""
    clf = model(root, "w-more", max_windows=40)
    truncated = model(root, "w-trunc", max_windows=1)
    long_doc = documents[-1]
    assert len(clf._backend.windows([long_doc])[0]) > 6
    per_window = clf._backend.window_probabilities(clf._backend.windows([long_doc])[0])
    np.testing.assert_allclose(clf.score([long_doc], all_labels=True)[0], per_window.max(0),
                               atol=1e-6)
    assert not np.allclose(per_window.max(0), truncated.score([long_doc], all_labels=True)[0])


@pytest.mark.parametrize(("key", "value"), [
    ("stride", 30),        # >= the 30 text tokens of a 32-token window: tokenizers panics
    ("stride", -1), ("max_windows", 0), ("max_windows", True), ("reduce", "median"),
    ("max_windows", 2.5), ("step_chars", -1), ("step_chars", 1.5), ("prefetch", "yes"),
    ("prefetch", 1)])
def test_bad_window_settings_are_refused(root, key, value, tmp_path):
    good = small_model(root / "w-good", root / "tok.json", WINDOW)
    broken = tmp_path / "m"
    shutil.copytree(good, broken)
    card = json.loads((broken / "model.json").read_text())
    card["transformer"][key] = value
    (broken / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=rf"\[E033\].*transformer\.{key}"):
        Classifier.load(broken)


def test_int8_model_follows_the_fp32_scores(root, documents, tmp_path):
    """onnxruntime dynamic quantization of the same graph: the int8 CPU path.

    Dynamic quantization takes each activation's scale from the whole batch tensor
    (padding included), so int8 scores move slightly with batch composition (measured:
    at most 0.007 here), unlike fp32, which matches the one-window-at-a-time reference.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_dir = small_model(root / "w-fp32", root / "tok.json", WINDOW)
    quantize_dynamic(str(fp32_dir / "model.onnx"), str(tmp_path / "int8.onnx"),
                     weight_type=QuantType.QInt8)
    int8 = onnx.load(str(tmp_path / "int8.onnx"))
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in int8.graph.node)
    int8_dir = small_model(tmp_path / "w-int8", root / "tok.json", WINDOW, model=int8)
    fp32 = Classifier.load(fp32_dir).score(documents, all_labels=True)
    clf = Classifier.load(int8_dir)
    got = clf.score(documents, all_labels=True)
    alone = naive(clf, documents, {**WINDOW, "reduce": "max"})[0]
    np.testing.assert_allclose(got, alone, atol=0.02)
    assert not np.allclose(got, fp32, atol=1e-4)  # it really is another graph
    assert np.abs(got - fp32).max() < 0.1
    assert np.corrcoef(got[:, 2], fp32[:, 2])[0, 1] > 0.95


def test_cuda_runs_or_names_the_missing_provider(root, documents):
    directory = small_model(root / "w-cuda", root / "tok.json", WINDOW)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ModelError, match=r"\[E038\].*CUDAExecutionProvider.*onnxruntime-gpu"):
            Classifier.load(directory, device="cuda")
        return
    gpu = Classifier.load(directory, device="cuda")
    assert gpu._backend.device == "cuda"
    np.testing.assert_allclose(gpu.score(documents, all_labels=True),
                               Classifier.load(directory).score(documents, all_labels=True),
                               atol=1e-4)
