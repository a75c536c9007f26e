"""The Backend protocol: every registered kind implements it, Classifier dispatches through the
one registry, and the one card writer never leaves a card that loading would refuse."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pytest

from engine import Classifier, ModelError
from engine.classify import backend as backend_module
from engine.classify.backend import BACKENDS, Backend, backend_factory
from engine.classify.card import read_card
from engine.defaults import models_dir
from engine.train.export import Provenance, record_quality, write_card

SPAM = models_dir() / "spam-hashed"
PROFANITY = models_dir() / "profanity"
TEXTS = ["free entry win cash now", None, "see you at home later", "", "日本語のテキスト",
         "claim your prize", None, "ok"]


@pytest.fixture(scope="module")
def transformer_dir(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    from engine.classify.transformer import add_classification_head
    from engine.train.export import save_transformer_model
    from tests.test_classifier_transformer import HIDDEN, small_encoder

    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {"[PAD]": 0, "[UNK]": 1, "free": 2, "win": 3, "cash": 4, "see": 5, "you": 6},
        unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    root = tmp_path_factory.mktemp("backend-transformer")
    tok.save(str(root / "tok.json"))
    rng = np.random.default_rng(0)
    model = add_classification_head(small_encoder(7), "last_hidden_state",
                                    rng.normal(size=(HIDDEN, 2)), rng.normal(size=2))
    return save_transformer_model(root / "model", name="tiny", model=model,
                                  tokenizer_file=root / "tok.json", labels=["no", "yes"],
                                  score_label="yes", threshold=0.5,
                                  spec={"max_length": 16, "token_budget": 64})


@pytest.fixture
def kind_dirs(transformer_dir):
    return {"hashed-ngrams": SPAM, "raw-text": PROFANITY, "transformer": transformer_dir}


def test_registry_names_every_shipped_kind():
    assert set(BACKENDS) == {"hashed-ngrams", "raw-text", "transformer"}


def test_every_registered_kind_satisfies_the_protocol(kind_dirs):
    assert set(kind_dirs) == set(BACKENDS)
    for kind, directory in kind_dirs.items():
        clf = Classifier.load(directory)
        assert clf.kind == kind
        backend = clf._backend
        assert isinstance(backend, Backend), kind
        assert isinstance(backend, BACKENDS[kind]), kind  # built by the registry's factory
        assert backend.fixed_model is None or isinstance(backend.fixed_model, bytes)


def test_every_kind_keeps_the_probabilities_contract(kind_dirs):
    """float32 [len, k], input order, slices with an offset, large_string; NaN for nulls."""
    for kind, directory in kind_dirs.items():
        clf = Classifier.load(directory)
        k = len(clf.labels)
        column = pa.array(["junk", *TEXTS, "junk"]).slice(1, len(TEXTS))
        raw = clf._backend.probabilities(column)
        assert raw.shape == (len(TEXTS), k) and raw.dtype == np.float32, kind
        valid = np.array([t is not None for t in TEXTS])
        assert np.isfinite(raw[valid]).all(), kind
        one_by_one = np.stack([clf._backend.probabilities(pa.array([t], pa.string()))[0]
                               for t in TEXTS])
        np.testing.assert_allclose(raw[valid], one_by_one[valid], atol=1e-6, err_msg=kind)
        large = clf._backend.probabilities(pa.array(TEXTS, pa.large_string()))
        np.testing.assert_allclose(large[valid], raw[valid], atol=1e-6, err_msg=kind)
        scored = clf.score(column, all_labels=True)
        assert np.isnan(scored[~valid]).all() and not np.isnan(scored[valid]).any(), kind


def test_unknown_kind_in_a_card_is_refused_with_its_code(tmp_path):
    target = tmp_path / "spam"
    shutil.copytree(SPAM, target)
    card = json.loads((target / "model.json").read_text())
    for kind in ("gradient-boosted-trees", 7, None):
        card["kind"] = kind
        (target / "model.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match=r"^\[E033\] model dir .*card kind") as info:
            Classifier.load(target)
        if isinstance(kind, str):
            assert "hashed-ngrams" in str(info.value)  # names the kinds there are


def test_classifier_dispatches_through_the_registry(tmp_path, monkeypatch):
    """A kind added to BACKENDS (and nowhere else) is what Classifier.load builds."""

    class Constant:
        fixed_model: bytes | None = None

        def __init__(self, card, graph):
            self.k = len(card.labels)

        def bind(self, session: ort.InferenceSession, threads: int) -> None:
            self.session = session

        def probabilities(self, array: pa.Array) -> np.ndarray:
            return np.full((len(array), self.k), 1.0 / self.k, np.float32)

    monkeypatch.setitem(BACKENDS, "constant", Constant)
    assert backend_module.BACKENDS is BACKENDS
    target = tmp_path / "constant"
    shutil.copytree(SPAM, target)
    card = json.loads((target / "model.json").read_text())
    card["kind"] = "constant"
    (target / "model.json").write_text(json.dumps(card))
    assert backend_factory(read_card(target)) is Constant
    clf = Classifier.load(target)
    assert isinstance(clf._backend, Constant) and isinstance(clf._backend, Backend)
    np.testing.assert_array_equal(clf.score(["a", None, "b"]), [0.5, np.nan, 0.5])


def test_write_card_refuses_what_loading_would_refuse(tmp_path):
    target = tmp_path / "spam"
    shutil.copytree(SPAM, target)
    (target / "model.json").unlink()
    settings = {"featurizer": json.loads((SPAM / "model.json").read_text())["featurizer"]}
    common = {"name": "x", "kind": "hashed-ngrams", "settings": settings, "provenance": None}
    with pytest.raises(ModelError, match=r"\[E033\].*score_label"):
        write_card(target, labels=["ham", "spam"], score_label="eggs", threshold=0.5, **common)
    assert not (target / "model.json").exists()
    with pytest.raises(ModelError, match=r"\[E033\].*card kind"):
        write_card(target, **{**common, "kind": "nope"}, labels=["ham", "spam"],
                   score_label="spam", threshold=0.5)
    assert not (target / "model.json").exists()
    write_card(target, labels=["ham", "spam"], score_label="spam", threshold=0.5, **common)
    np.testing.assert_array_equal(Classifier.load(target).score(["win cash"]),
                                  Classifier.load(SPAM).score(["win cash"]))


def test_record_quality_keeps_the_rest_of_the_card(tmp_path):
    target = tmp_path / "spam"
    shutil.copytree(SPAM, target)
    before = json.loads((SPAM / "model.json").read_text())
    record_quality(target, {"extra_check": {"documents": 3}})
    after = json.loads((target / "model.json").read_text())
    assert after["quality"] == {**before["quality"], "extra_check": {"documents": 3}}
    assert {k: v for k, v in after.items() if k != "quality"} == {
        k: v for k, v in before.items() if k != "quality"}
    assert list(after) == list(before)  # the card's layout is kept
    assert Provenance.from_card(after).command == before["provenance"]["command"]
