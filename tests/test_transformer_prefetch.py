"""The transformer backend's pipeline: a chunk is scored in steps, the next step tokenized on
the backend's one thread while the session runs this one.

The small self-attention model and real WordPiece tokenizer of
``test_classifier_transformer.py``; texts of every length from "" to documents of many
windows. Prefetch on and off must give the same windows and the same scores bit for bit
(the steps are the same; only the thread that tokenizes differs), an error raised while
tokenizing must reach the caller as the same coded error, and the thread must neither
outlive its classifier nor travel with a pickled stage nor be missing in a forked child.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import pickle
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from engine import Classifier, ModelError
from engine.filter.spec import BlocklistSpec, ClassifierSpec
from engine.filter.stages import BlocklistStage, ClassifierStage, TextStage
from engine.io.arrow_buffers import check_text
from engine.train.datasets import sms_spam_collection
from tests.test_classifier_transformer import small_model, sms_tokenizer

tokenizers = pytest.importorskip("tokenizers")
CARD = {"max_chars": 100_000, "max_length": 32, "token_budget": 160, "stride": 8,
        "max_windows": 6}
THREAD = "filter-engine-tokenize"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("prefetch")
    sms_tokenizer(path / "tok.json")
    (path / "hazard.txt").write_text("sarin\ntabun\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def texts():
    """Empty strings, single messages and documents of up to 60 messages, mixed."""
    sms, _ = sms_spam_collection()
    rng = np.random.default_rng(11)
    out, start = [], 0
    for i, size in enumerate(rng.integers(1, 60, 90)):
        take = 0 if i % 7 == 3 else 1 if size < 20 else size
        out.append(" ".join(sms[start : start + take]))
        start += take
    return out


def model(root, name, **settings):
    directory = root / name
    if not directory.exists():
        small_model(directory, root / "tok.json", {**CARD, **settings})
    return Classifier.load(directory)


def tokenizing_threads() -> int:
    return sum(t.name.startswith(THREAD) for t in threading.enumerate())


def wait_for_threads(count: int) -> int:
    """The number of tokenizing threads once it falls to ``count`` (or after 5 s)."""
    deadline = time.monotonic() + 5
    while tokenizing_threads() > count and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    return tokenizing_threads()


def test_steps_cover_the_rows_in_order(root):
    backend = model(root, "steps-10", step_chars=10)._backend
    assert backend.steps(np.array([], np.int64)) == []
    assert backend.steps(np.array([0, 0, 0])) == [(0, 3)]  # "" texts: one step
    assert backend.steps(np.array([4, 4, 4, 4, 4])) == [(0, 3), (3, 5)]  # 12 > 10; 20
    assert backend.steps(np.array([35, 1, 0, 9])) == [(0, 1), (1, 4)]  # a long text alone
    assert backend.steps(np.array([3, 0, 9, 0, 0])) == [(0, 3), (3, 5)]


@pytest.mark.parametrize("step_chars", [1, 300, 2000, 20_000])
def test_prefetch_on_and_off_score_the_same_bit_for_bit(root, texts, step_chars):
    clf = model(root, f"steps-{step_chars}", step_chars=step_chars)
    backend = clf._backend
    lengths = np.array([len(t) for t in texts])
    steps = backend.steps(lengths)
    assert len(steps) > 1 and steps[0][0] == 0 and steps[-1][1] == len(texts)
    assert all(a < b == c for (a, b), (c, _) in zip(steps, steps[1:], strict=False))
    assert "" in texts and max(np.bincount(backend.windows(texts)[1])) == CARD["max_windows"]
    where: list[str] = []
    real = backend.windows

    def spied(chunk):
        where.append(threading.current_thread().name)
        return real(chunk)

    backend.windows = spied
    backend.prefetch = True
    on = clf.score(texts, all_labels=True)
    assert len(where) == len(steps) and all(w.startswith(THREAD) for w in where)
    where.clear()
    backend.prefetch = False
    off = clf.score(texts, all_labels=True)
    assert where == ["MainThread"] * len(steps)
    np.testing.assert_array_equal(on, off)
    # the steps change batch composition only: the scores of one step for the whole chunk
    whole = model(root, "steps-whole", step_chars=10**9)
    assert len(whole._backend.steps(lengths)) == 1
    np.testing.assert_allclose(on, whole.score(texts, all_labels=True), atol=1e-6)


@pytest.mark.parametrize(("setting", "expected"), [(None, False), (True, True),
                                                   (False, False)])
def test_the_card_chooses_prefetch(root, texts, setting, expected):
    """Unset: on for CUDA only (a CPU worker has no spare core for the thread)."""
    clf = model(root, f"card-{setting}", step_chars=500, prefetch=setting)
    assert clf._backend.prefetch is expected
    before = wait_for_threads(0)  # earlier tests' classifiers collected
    clf.score(texts)
    assert tokenizing_threads() == before + expected


def run_around_hits(classifier, blocklist, texts):
    text = check_text(pa.array(texts, pa.string()))
    columns = dict(TextStage().run(text, {}).columns)
    columns.update(blocklist.run(text, columns).columns)
    return classifier.run(text, columns).columns


def hit_stages(root, step_chars):
    name = f"hits-{step_chars}"
    model(root, name, step_chars=step_chars)
    blocklist = BlocklistStage(BlocklistSpec("hazard", (str(root / "hazard.txt"),)))
    spec = ClassifierSpec("tox", str(root / name), labels=("a", "b", "c"),
                          windows="around_hits", hits_from="hazard")
    return blocklist, ClassifierStage(spec, hits=blocklist)


@pytest.mark.parametrize("step_chars", [1, 150, 5000])
def test_windows_around_hits_run_through_the_same_pipeline(root, texts, step_chars):
    docs = [f"{t} sarin {t[: len(t) // 2]} tabun" if i % 3 else t
            for i, t in enumerate(texts)]
    blocklist, classifier = hit_stages(root, step_chars)
    classifier.load()
    backend = classifier.model._backend
    backend.prefetch = True
    on = run_around_hits(classifier, blocklist, docs)
    backend.prefetch = False
    off = run_around_hits(classifier, blocklist, docs)
    assert np.isnan(on["tox.score"]).sum() == sum(1 for i in range(len(docs)) if not i % 3)
    for key in ("tox.a", "tox.b", "tox.c", "tox.score"):
        np.testing.assert_array_equal(on[key], off[key])
    _, whole = hit_stages(root, 10**9)
    np.testing.assert_allclose(on["tox.c"], run_around_hits(whole, blocklist, docs)["tox.c"],
                               atol=1e-6)


@pytest.fixture(scope="module")
def no_unknown_token(root):
    """The SMS tokenizer with its unknown token renamed away: a character it never saw
    cannot be tokenized, and ``tokenizers`` raises a bare Exception."""
    directory = root / "no-unk"
    small_model(directory, root / "tok.json", {**CARD, "step_chars": 300})
    data = json.loads((directory / "tokenizer.json").read_text())
    data["model"]["unk_token"] = "[NOT-IN-VOCAB]"
    (directory / "tokenizer.json").write_text(json.dumps(data))
    return directory


@pytest.mark.parametrize("prefetch", [True, False])
def test_a_tokenizer_error_is_the_same_coded_error_either_way(no_unknown_token, texts,
                                                              prefetch):
    clf = Classifier.load(no_unknown_token)
    clf._backend.prefetch = prefetch
    clean = clf.score(texts, all_labels=True)
    bad = [*texts[:60], "日本語", *texts[60:]]  # in a later step: tokenized on the thread
    assert len(clf._backend.steps(np.array([len(t) for t in bad]))) > 3
    with pytest.raises(ModelError, match=r"\[E037\].*tokenizer\.json cannot tokenize.*"
                       r"Missing \[UNK\]") as caught:
        clf.score(bad)
    assert caught.value.code == "E037"
    assert type(caught.value.__cause__) is Exception  # what tokenizers raised
    np.testing.assert_array_equal(clf.score(texts, all_labels=True), clean)  # still works
    with pytest.raises(ModelError, match=r"\[E037\]"):  # the hit windows' tokenizer too
        at = len("x 日本語 ".encode())
        clf.score_around(["x 日本語 sarin"], np.array([0]), np.array([at]), np.array([at + 5]))


def test_the_thread_ends_with_its_classifier(root, texts):
    before = wait_for_threads(0)  # earlier tests' classifiers collected
    total = threading.active_count()
    clf = model(root, "gc", step_chars=500, prefetch=True)
    clf.score(texts)
    assert tokenizing_threads() == before + 1 and threading.active_count() == total + 1
    clf.score(texts)
    assert tokenizing_threads() == before + 1  # one thread per backend, reused
    del clf
    assert wait_for_threads(before) == before and threading.active_count() == total


def test_a_pickled_stage_carries_no_thread(root, texts):
    before = wait_for_threads(0)  # earlier tests' classifiers collected
    model(root, "pickled", step_chars=500, prefetch=True)
    spec = ClassifierSpec("clf", str(root / "pickled"), labels=("a", "b", "c"))
    stage = ClassifierStage(spec)
    text = check_text(pa.array(texts, pa.string()))
    first = stage.run(text, {}).columns["clf.c"]
    assert tokenizing_threads() == before + 1
    copy = pickle.loads(pickle.dumps(stage))
    assert copy._model is None and tokenizing_threads() == before + 1
    np.testing.assert_array_equal(copy.run(text, {}).columns["clf.c"], first)
    assert tokenizing_threads() == before + 2  # its own, started on first use
    del stage, copy
    assert wait_for_threads(before) == before


def _score_in_child(clf, texts, queue):
    queue.put(clf.score(texts, all_labels=True))


def test_a_forked_child_starts_its_own_thread(root, texts):
    """A child forked after the parent scored (a DataLoader worker, say) inherits the
    executor without its thread: submitting to it would wait forever."""
    clf = model(root, "forked", step_chars=500, prefetch=True)
    expected = clf.score(texts, all_labels=True)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_score_in_child, args=(clf, texts, queue))
    child.start()
    try:
        got = queue.get(timeout=60)
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    np.testing.assert_array_equal(got, expected)


def test_the_device_bench_reports_prefetch_on_and_off(root, texts):
    """``filter-engine bench --device`` times both paths so a GPU session records the
    pipeline's effect with one command."""
    from engine.bench.transformer import format_results, measure

    model(root, "bench", step_chars=10**6)
    got = measure(root / "bench", "cpu", pa.array(texts), repeats=2, step_chars=400)
    assert got["step_chars"] == 400 and got["steps"] > 3 and got["windows"] > len(texts)
    for prefix in ("", "sequential_"):
        assert got[f"{prefix}docs_s"] > 0 and got[f"{prefix}gpu_busy"] is None
        assert 0 < got[f"{prefix}caller_cpu_s"] <= got[f"{prefix}cpu_s"] + 0.01
    assert 0 < got["tokenize_s"] < got["seconds"] * 2
    table = format_results([got])
    assert "seq docs/s" in table.splitlines()[0] and len(table.splitlines()) == 3
    assert got["prefetch_default"] is False and table.endswith("default here: off")
