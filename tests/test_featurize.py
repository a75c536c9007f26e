"""The Cython featurizer against the pure-Python oracle and against fastText itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._featurize import HashedFeaturizer, bucket_of, fasttext_hash
from engine.classify.hashed import vocab_arrays
from engine.io.arrow_buffers import string_chunks
from engine.train.datasets import sms_spam_collection
from tests.featurize_reference import fnv1a, reference_ids

# Tokens mix ASCII, 2/3/4-byte UTF-8, the EOS and label markers, and every separator.
ALPHABET = st.sampled_from(list("abcdeé日😀") + [" ", "\n", "\t", "\r", "\x0b", "\x0c", "\x00",
                                                  "\u00a0", "</s>", "__label__x"])
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)
WORDS = st.lists(st.sampled_from(["a", "b", "ab", "é", "日本", "😀", "abc", "</s>", "de"]),
                 unique=True, max_size=8)


def featurizer(words, bucket, word_ngrams, minn, maxn, eos_stops=True):
    offsets, data = vocab_arrays([w.encode() for w in words])
    return HashedFeaturizer(offsets, data, bucket, word_ngrams, minn, maxn, b"__label__",
                            eos_stops)


def run(fz, texts):
    (chunk,) = string_chunks(pa.array(texts, pa.string()))
    ids, offsets = fz.featurize(chunk.offsets, chunk.data, chunk.valid)
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=6), words=WORDS,
       bucket=st.sampled_from([1, 7, 1000, 2_000_000]), word_ngrams=st.integers(1, 4),
       minn=st.integers(1, 3), span=st.integers(-1, 3), eos_stops=st.booleans())
def test_featurize_matches_reference(texts, words, bucket, word_ngrams, minn, span, eos_stops):
    maxn = 0 if span < 0 else minn + span
    fz = featurizer(words, bucket, word_ngrams, minn if maxn else 0, maxn, eos_stops)
    vocab = {w.encode(): i for i, w in enumerate(words)}
    expected = [reference_ids(t.encode(), vocab, bucket, word_ngrams, minn if maxn else 0, maxn,
                              eos_stops=eos_stops)
                for t in texts]
    assert run(fz, texts) == expected


@given(st.binary(max_size=64))
def test_fasttext_hash_sign_extends_bytes(data):
    assert fasttext_hash(data) == fnv1a(data)


def test_fasttext_hash_known_values():
    # FNV-1a of "</s>"; and a high byte, where sign extension differs from plain FNV-1a.
    assert fasttext_hash(b"</s>") == fnv1a(b"</s>")
    plain = (2166136261 ^ 0xE9) * 16777619 & 0xFFFFFFFF
    assert fasttext_hash(b"\xe9") != plain


@given(st.integers(0, 2**64 - 1), st.integers(1, 2**32 - 1))
def test_bucket_of_is_exact_modulo(value, bucket):
    assert bucket_of(value, bucket) == value % bucket


def test_literal_eos_hides_the_rest_only_when_asked():
    fastext_like = featurizer(["a", "b", "</s>"], 100, 2, 0, 0, eos_stops=True)
    ours = featurizer(["a", "b", "</s>"], 100, 2, 0, 0, eos_stops=False)
    assert run(fastext_like, ["a </s> b"]) == run(fastext_like, ["a"])
    assert 1 in run(ours, ["a </s> b"])[0]  # "b" is read


def test_null_rows_get_no_ids_and_row_ranges_slice():
    fz = featurizer(["a", "b", "</s>"], 100, 2, 0, 0)
    (chunk,) = string_chunks(pa.array(["a b", None, "b", ""], pa.string()))
    ids, offsets = fz.featurize(chunk.offsets, chunk.data, chunk.valid)
    assert np.diff(offsets).tolist()[1] == 0
    part_ids, part_offsets = fz.featurize(chunk.offsets, chunk.data, chunk.valid, 2, 4)
    assert part_ids.tolist() == ids[offsets[2] :].tolist()
    assert part_offsets.tolist() == [0, offsets[3] - offsets[2], offsets[4] - offsets[2]]


def test_sliced_arrow_arrays_read_their_own_rows():
    fz = featurizer(["a", "b", "c", "</s>"], 100, 2, 0, 0)
    whole = pa.array(["a", "b c", "c a b", "b"], pa.string())
    assert run(fz, whole.slice(1, 2).to_pylist()) == run(fz, ["b c", "c a b"])
    (chunk,) = string_chunks(whole.slice(1, 2))
    ids, offsets = fz.featurize(chunk.offsets, chunk.data, chunk.valid)
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(2)] == run(
        fz, ["b c", "c a b"])


def test_featurize_rejects_bad_ranges_and_offsets():
    fz = featurizer(["a"], 10, 1, 0, 0)
    data = np.frombuffer(b"abc", np.uint8)
    with pytest.raises(IndexError):
        fz.featurize(np.array([0, 3], np.int64), data, None, 0, 2)
    with pytest.raises(ValueError, match="past the data"):
        fz.featurize(np.array([0, 9], np.int64), data)


def test_vocabulary_must_not_repeat_words():
    with pytest.raises(ValueError, match="repeats"):
        featurizer(["a", "b", "a"], 10, 1, 0, 0)


def test_ngrams_need_buckets():
    with pytest.raises(ValueError, match="bucket"):
        featurizer(["a"], 0, 2, 0, 0)


def test_word_id_looks_up_vocabulary():
    fz = featurizer(["x", "日本", "</s>"], 10, 1, 0, 0)
    assert (fz.word_id("日本".encode()), fz.word_id(b"nope"), fz.nwords, fz.num_ids) == (
        1, -1, 3, 13)


# --- against the fasttext package itself ---------------------------------------------


@pytest.fixture(scope="module")
def sms_train_file(tmp_path_factory):
    texts, labels = sms_spam_collection()
    path = tmp_path_factory.mktemp("ft") / "train.txt"
    path.write_text("".join(f"__label__{lab} {t}\n" for t, lab in
                            zip(texts[:2000], labels[:2000], strict=True)), encoding="utf-8")
    return path, texts[2000:3000]


_TRAIN = """
import sys, json, fasttext
path, out, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for seed in range(5):  # a rare spurious NaN loss: a new seed gives a new trajectory
    try:
        model = fasttext.train_supervised(path, verbose=0, thread=1, seed=seed, **kwargs)
    except RuntimeError as err:
        error = err
        continue
    model.save_model(out)
    sys.exit(0)
sys.exit(f"fastText training failed: {error}")
"""


def train_fasttext(path, **kwargs):
    """A fastText model trained in a fresh process, then loaded here.

    In-process training after other tests (onnxruntime, tokenizers in the same process)
    reported "Encountered NaN" for every seed, while the same call in a fresh process
    trains normally; a subprocess keeps these tests independent of test order.
    """
    fasttext = pytest.importorskip("fasttext")
    key = abs(hash(json.dumps(kwargs, sort_keys=True)))
    out = Path(path).with_name(f"{Path(path).stem}-{key}.bin")
    subprocess.run([sys.executable, "-c", _TRAIN, str(path), str(out), json.dumps(kwargs)],
                   check=True)
    return fasttext.load_model(str(out))


@pytest.mark.parametrize("kwargs", [
    {"wordNgrams": 2, "bucket": 50_000},
    {"wordNgrams": 3, "bucket": 20_000, "minn": 2, "maxn": 5},
])
def test_featurize_matches_fasttext_ids(sms_train_file, kwargs):
    """fastText's sentence vector is the mean of the input rows of its ids: ours agree.

    rtol: a model that trained to large weights sums float32 rows in another order.
    """
    path, texts = sms_train_file
    model = train_fasttext(path, dim=24, epoch=1, lr=0.05, **kwargs)
    words = [w.encode("utf-8") for w in model.get_words()]
    offsets, data = vocab_arrays(words)
    fz = HashedFeaturizer(offsets, data, kwargs["bucket"], kwargs["wordNgrams"],
                          kwargs.get("minn", 0), kwargs.get("maxn", 0))
    texts = [*texts, "", "日本語 テキスト ünï", "a </s> b", "__label__spam x"]
    matrix = model.get_input_matrix()
    for text, ids in zip(texts, run(fz, texts), strict=True):
        ours = matrix[ids].mean(axis=0) if ids else np.zeros(matrix.shape[1])
        np.testing.assert_allclose(ours, model.get_sentence_vector(text), rtol=1e-5, atol=1e-6,
                                   err_msg=text)


def test_featurize_char_ngrams_match_fasttext_subwords(sms_train_file):
    path, _ = sms_train_file
    model = train_fasttext(path, dim=8, epoch=1, minn=2, maxn=4, bucket=10_000)
    words = [w.encode("utf-8") for w in model.get_words()]
    offsets, data = vocab_arrays(words)
    fz = HashedFeaturizer(offsets, data, 10_000, 1, 2, 4)
    for word in ["hello", "naïve", "日本語", "x", "zzzq"]:
        _, expected = model.get_subwords(word)
        assert run(fz, [word])[0][: len(expected)] == expected.tolist()
