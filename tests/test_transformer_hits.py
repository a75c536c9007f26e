"""A transformer stage that scores only the token windows around a blocklist's matches
(``windows = "around_hits"``): the real matcher gives byte spans, the real tokenizer and
the small self-attention model of ``test_classifier_transformer.py`` score the windows.

The references are built by hand from the tokenizer without truncation and the model run
one window at a time with ``session.run``: a term at the very end of a document is scored
on the document's last window; a document that fits in one window scores as the plain
path scores it.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from engine import Classifier, ConfigError
from engine.filter.rules import NUM, Rule
from engine.filter.spec import TEXT_FIELDS, BlocklistSpec, ClassifierSpec, FilterSpec
from engine.filter.stages import BlocklistStage, ClassifierStage, TextStage
from engine.io.arrow_buffers import check_text
from engine.train.datasets import sms_spam_collection
from tests.test_classifier_transformer import small_model, sms_tokenizer

tokenizers = pytest.importorskip("tokenizers")
CARD = {"max_chars": 100_000, "max_length": 32, "token_budget": 160, "stride": 8}
TERMS = ["sarin", "ricin", "tabun"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("hits")
    sms_tokenizer(path / "tok.json")
    (path / "hazard.txt").write_text("\n".join(TERMS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sms():
    return sms_spam_collection()[0]


def model_dir(root, name, **settings):
    directory = root / name
    if not directory.exists():
        small_model(directory, root / "tok.json", {**CARD, **settings})
    return directory


def stages(root, name="plain", threads=1, **settings):
    """A blocklist stage on ``hazard.txt`` and an around_hits classifier stage linked to
    it, as ``engine.Filter`` links them."""
    blocklist = BlocklistStage(BlocklistSpec("hazard", (str(root / "hazard.txt"),),
                                             normalize="robust"))
    spec = ClassifierSpec("tox", str(model_dir(root, name, **settings)), labels=("a", "b", "c"),
                          windows="around_hits", hits_from="hazard", threads=threads)
    return blocklist, ClassifierStage(spec, hits=blocklist)


def run(blocklist, classifier, texts, run_if=None):
    text = check_text(pa.array(texts, pa.string()))
    columns = dict(TextStage().run(text, {}).columns)
    columns.update(blocklist.run(text, columns).columns)
    classifier.run_if = run_if
    return classifier.run(text, columns).columns


def alone(clf, ids):
    """One window, ``[CLS] ids [SEP]``, through ``session.run``: probabilities."""
    tok = clf._backend.tokenizer
    window = np.array([[tok.token_to_id("[CLS]"), *ids, tok.token_to_id("[SEP]")]], np.int64)
    feed = {"input_ids": window, "attention_mask": np.ones_like(window)}
    return clf._backend.session.run(["probabilities"], feed)[0][0]


def body(clf, text):
    whole = tokenizers.Tokenizer.from_file(str(clf._card.directory / "tokenizer.json"))
    whole.no_truncation()
    return whole.encode(text, add_special_tokens=False)


def test_a_term_at_the_end_of_a_long_document_is_scored_where_it_is(root, sms):
    """max_windows = 1 from the start never reads the end; around_hits reads the last
    window, whichever term is there."""
    start = " ".join(sms[:80])  # ~ 1,500 tokens: ~50 windows of 30
    docs = [f"{start} then {term}" for term in TERMS]
    plain = Classifier.load(model_dir(root, "plain"))
    first = plain.score(docs, all_labels=True)
    np.testing.assert_array_equal(first[0], first[1])  # blind to the end
    blocklist, classifier = stages(root)
    got = run(blocklist, classifier, docs)
    scores = np.stack([got["tox.a"], got["tox.b"], got["tox.c"]], axis=1)
    np.testing.assert_array_equal(scores[:, 2], got["tox.score"])
    room = 30
    for doc, row in zip(docs, scores, strict=True):
        np.testing.assert_allclose(row, alone(plain, body(plain, doc).ids[-room:]), atol=1e-5)
    assert not np.allclose(scores[0], scores[1], atol=1e-4)  # it sees the term
    assert not np.allclose(scores[0], first[0], atol=1e-4)


def test_one_window_documents_score_as_the_plain_path(root, sms):
    """A document that fits in one window, the hit anywhere in it: same probabilities."""
    words = [m.split() for m in sms[:80]]
    docs = [" ".join([*w[: len(w) // 2], "sarin", *w[len(w) // 2 :]]) for w in words]
    docs += ["tabun", "Sarin at the start", "at the end: RICIN"]
    plain = Classifier.load(model_dir(root, "plain"))
    fits = [d for d in docs if len(body(plain, d).ids) <= 30]
    assert len(fits) >= 12
    blocklist, classifier = stages(root)
    got = run(blocklist, classifier, fits)
    expected = plain.score(fits, all_labels=True)
    np.testing.assert_allclose(got["tox.c"], expected[:, 2], atol=1e-6)
    np.testing.assert_allclose(got["tox.a"], expected[:, 0], atol=1e-6)


def test_hit_windows_are_centred_after_non_ascii_text(root, sms):
    """Byte offsets are mapped to characters: with 2-4 byte characters before the term, a
    byte offset read as a character offset would land far past it."""
    before = " ".join(f"café naïve Ωμέγα 日本語 {m[:30]}" for m in sms[:20])
    after = " ".join(sms[12:40])
    doc = f"{before} sarin {after}"
    assert len(doc[: doc.index("sarin")].encode()) > doc.index("sarin") + 200
    blocklist, classifier = stages(root)
    backend = classifier.model._backend
    spans = blocklist.matcher.spans([doc])
    assert len(spans) == 1
    ids, owner = backend.hit_windows([doc], spans.row, spans.start, spans.end)
    assert len(ids) == 1 and owner.tolist() == [0]
    encoding = body(classifier.model, doc)
    at = doc.index("sarin")
    hit = [i for i, (s, e) in enumerate(encoding.offsets) if s < at + 5 and e > at]
    centre = (hit[0] + hit[-1] + 1) // 2
    expected = encoding.ids[centre - 15 : centre + 15]
    assert ids[0][1:-1].tolist() == expected
    got = run(blocklist, classifier, [doc])
    np.testing.assert_allclose(got["tox.c"][0], alone(classifier.model, expected)[2], atol=1e-5)


def test_rows_without_hits_are_nan_and_never_reach_the_model(root, sms, monkeypatch):
    blocklist, classifier = stages(root)
    backend = classifier.model._backend
    seen: list[int] = []
    real = backend.window_probabilities

    def counted(ids):
        seen.append(len(ids))
        return real(ids)

    monkeypatch.setattr(backend, "window_probabilities", counted)
    texts = [f"{sms[0]} sarin", sms[1], None, f"tabun {sms[2]}", "", sms[3]]
    got = run(blocklist, classifier, texts)
    assert np.isnan(got["tox.score"]).tolist() == [False, True, True, False, True, True]
    assert seen == [2]  # one window for each of the two rows with a hit
    got = run(blocklist, classifier, texts, run_if=_rule("hazard.count >= 1 and text.bytes < 60"))
    assert np.isnan(got["tox.score"]).tolist() == [
        len(texts[0].encode()) >= 60, True, True, len(texts[3].encode()) >= 60, True, True]
    seen.clear()
    got = run(blocklist, classifier, [sms[1], sms[3]])
    assert np.isnan(got["tox.score"]).all() and seen == []


def test_windows_cap_merge_and_reduce(root, sms):
    """Hits close together share one window; far apart they get one each, up to
    max_windows, reduced by max or mean over exactly those windows."""
    filler = " ".join(sms[:60])
    doc = f"sarin {filler} ricin tabun {filler} sarin {filler} tabun"
    for reduce in ("max", "mean"):
        blocklist, classifier = stages(root, f"cap-{reduce}", max_windows=3, reduce=reduce)
        backend = classifier.model._backend
        spans = blocklist.matcher.spans([doc])
        assert len(spans) == 5
        ids, owner = backend.hit_windows([doc], spans.row, spans.start, spans.end)
        assert len(ids) == 3 and owner.tolist() == [0, 0, 0]  # 4 windows, capped to 3
        assert all(len(w) == 32 for w in ids)
        clf = classifier.model
        assert has(clf, ids[0], "sarin") and has(clf, ids[1], "ricin")
        assert has(clf, ids[1], "tabun") and has(clf, ids[2], "sarin")
        assert not has(clf, ids[2], "tabun")
        per_window = np.stack([alone(classifier.model, w[1:-1].tolist()) for w in ids])
        expected = per_window.max(0) if reduce == "max" else per_window.mean(0)
        got = run(blocklist, classifier, [doc])
        np.testing.assert_allclose(got["tox.c"][0], expected[2], atol=1e-5)


def test_threads_tokenize_the_same_windows(root, sms):
    """threads > 1 tokenizes the stretches with ``encode_batch``: the same windows."""
    docs = [f"{' '.join(sms[i : i + 40])} tabun {sms[i]} sarin" for i in range(0, 200, 40)]
    windows = []
    for threads in (1, 2):
        blocklist, classifier = stages(root, threads=threads)
        spans = blocklist.matcher.spans(docs)
        ids, owner = classifier.model._backend.hit_windows(docs, spans.row, spans.start,
                                                           spans.end)
        windows.append(([w.tolist() for w in ids], owner.tolist()))
    assert windows[0] == windows[1] and len(windows[0][0]) == 5


def has(clf, window, term):
    """Whether ``window`` holds the tokens of ``term``."""
    word = body(clf, term).ids
    return any(window[i : i + len(word)].tolist() == word for i in range(len(window)))


def _rule(text):
    return Rule(text, {**TEXT_FIELDS, "hazard.count": NUM}, where="test")


def write_config(root, tmp_path, **classifier):
    lines = ['drop_if = "tox.score > 0.9"', "[[blocklist]]", 'name = "hazard"',
             f'files = ["{root / "hazard.txt"}"]', "[[classifier]]", 'name = "tox"',
             f'model = "{model_dir(root, "plain")}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in classifier.items()]
    path = tmp_path / "f.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_around_hits_is_read_from_toml(root, tmp_path):
    spec = FilterSpec.from_toml(write_config(root, tmp_path, windows="around_hits",
                                             hits_from="hazard"))
    assert spec.classifiers[0].windows == "around_hits"
    assert spec.classifiers[0].hits_from == "hazard"
    assert spec.to_dict()["classifiers"][0]["hits_from"] == "hazard"
    plain = FilterSpec.from_toml(write_config(root, tmp_path))
    assert plain.classifiers[0].windows == "all"
    # left out of the spec's data when unset: a filter without them keeps its fingerprint
    assert "windows" not in plain.to_dict()["classifiers"][0]


@pytest.mark.parametrize(("keys", "message"), [
    ({"windows": "around_hits"}, r'needs hits_from = the name of a \[\[blocklist\]\] '
                                 r"\(\['hazard'\]\); hits_from is missing"),
    ({"windows": "around_hits", "hits_from": "other"}, "hits_from is 'other'"),
    ({"hits_from": "hazard"}, r'only read with windows = "around_hits"'),
    ({"windows": "around"}, r"windows must be one of 'all', 'around_hits'"),
    ({"windows": "around_hits", "hits_from": ""}, "hits_from must be a non-empty string"),
])
def test_bad_around_hits_settings_are_refused(root, tmp_path, keys, message):
    with pytest.raises(ConfigError, match=rf"\[E055\].*\[\[classifier\]\] 'tox'.*{message}"):
        FilterSpec.from_toml(write_config(root, tmp_path, **keys))


def test_around_hits_needs_a_transformer_model(root):
    from engine import defaults

    blocklist = BlocklistStage(BlocklistSpec("hazard", (str(root / "hazard.txt"),)))
    spec = ClassifierSpec("spam", str(defaults.models_dir() / "spam-hashed"),
                          windows="around_hits", hits_from="hazard")
    stage = ClassifierStage(spec, hits=blocklist)
    with pytest.raises(ConfigError, match=r"\[E055\].*needs a transformer model.*hashed"):
        stage.load()
    with pytest.raises(ConfigError, match=r"\[E055\].*hits_from names blocklist 'hazard'"):
        ClassifierStage(spec)


@pytest.mark.parametrize("max_chars", [46, 92, 402])
def test_text_around_a_hit_is_cut_between_words(root, sms, max_chars):
    """Only ``max_chars`` characters around each hit are tokenized; they are cut at
    whitespace, so a window's tokens are the whole document's tokens there."""
    filler = " ".join(sms[:30])
    doc = f"{filler} sarin {filler} tabun {filler}"
    blocklist, classifier = stages(root, f"cut-{max_chars}", max_chars=max_chars, max_windows=5)
    spans = blocklist.matcher.spans([doc])
    ids, _ = classifier.model._backend.hit_windows([doc], spans.row, spans.start, spans.end)
    whole = body(classifier.model, doc).ids
    assert len(ids) == 2
    for window in ids:
        inner = window[1:-1].tolist()
        assert any(whole[i : i + len(inner)] == inner for i in range(len(whole))), inner


def test_filter_links_the_blocklist_and_scores_around_its_hits(root, tmp_path, sms):
    """From TOML through ``engine.Filter``: the classifier reads the blocklist stage's
    matcher (the same object, also after pickling to a worker)."""
    import pickle

    from engine import Filter

    flt = Filter(write_config(root, tmp_path, windows="around_hits", hits_from="hazard"))
    assert flt.classifiers[0].hits is flt.blocklists[0]
    sent = pickle.loads(pickle.dumps(flt))
    assert sent.classifiers[0].hits is sent.blocklists[0]
    docs = [f"{' '.join(sms[:80])} then sarin", sms[1], None]
    got = sent.trace(pa.table({"text": pa.array(docs, pa.string())}))
    assert np.isnan(got["tox.score"]).tolist() == [False, True, True]
    blocklist, classifier = stages(root)
    np.testing.assert_allclose(got["tox.score"][0], run(blocklist, classifier, docs[:1])[
        "tox.score"][0], atol=1e-6)
