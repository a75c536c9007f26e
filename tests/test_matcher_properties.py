"""Property tests: the compiled matcher against the pure-Python oracle."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Matcher
from tests import oracle

# Letters with interesting lower-casing and boundaries: ASCII, accented, Greek (capital
# sigma's lowering depends on context), dotted I (lowers to two code points), the Kelvin
# sign (lowers to ASCII k), full-width and ligature forms (NFKC), CJK, combining marks,
# digits, separators and punctuation that is not alphanumeric.
ALPHABET = list("abcAB hH-_.,'é É ßẞΣσςİıKﬁＡａ中文١2\u0301\u02b0\u00a0\n") + [
    "\u2014", "\U0001d400"]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

pattern_text = st.text(alphabet=ALPHABET, min_size=1, max_size=5).filter(
    lambda p: oracle.transform(p, True, True) and oracle.transform(p, False, False)
    and oracle.transform(p, True, False) and oracle.transform(p, False, True))


@st.composite
def corpus(draw):
    patterns = draw(st.lists(pattern_text, min_size=1, max_size=8))
    pieces = st.one_of(st.sampled_from(patterns), st.text(alphabet=ALPHABET, max_size=4))
    texts = draw(st.lists(
        st.one_of(st.none(), st.lists(pieces, max_size=8).map("".join)),
        min_size=1, max_size=6))
    return patterns, texts


@SETTINGS
@given(corpus(), st.booleans(), st.booleans(), st.sampled_from([None, "nfkc"]))
def test_counts_match_oracle(data, ignore_case, whole_words, normalize):
    patterns, texts = data
    m = Matcher(patterns, ignore_case=ignore_case, whole_words=whole_words, normalize=normalize)
    expected = oracle.counts(patterns, texts, ignore_case, whole_words, normalize == "nfkc")
    assert m.count(texts).tolist() == expected


@SETTINGS
@given(corpus(), st.booleans())
def test_spans_match_oracle(data, whole_words):
    patterns, texts = data
    m = Matcher(patterns, ignore_case=True, whole_words=whole_words)
    got = m.spans(texts)
    spans = sorted(zip(got.row.tolist(), got.start.tolist(), got.end.tolist(),
                       got.pattern_id.tolist(), strict=True))
    assert spans == oracle.byte_spans(patterns, texts, whole_words)


@SETTINGS
@given(corpus(), st.booleans())
def test_scan_detail_matches_oracle(data, whole_words):
    patterns, texts = data
    tagged = [(p, f"cat{i % 3}", float(i + 1)) for i, p in enumerate(patterns)]
    m = Matcher(tagged, whole_words=whole_words)
    result = m.scan(texts)
    keys = oracle.unique_patterns(patterns, True, False)
    # Merged duplicates unite categories and keep the highest weight.
    cats: dict[str, set[str]] = {}
    weights: dict[str, float] = {}
    for p, cat, w in tagged:
        key = oracle.transform(p, True, False)
        cats.setdefault(key, set()).add(cat)
        weights[key] = max(weights.get(key, w), w)
    for row, text in enumerate(texts):
        found = [] if text is None else oracle.occurrences(keys, text, True, whole_words)
        assert result.total[row] == len(found)
        assert result.distinct[row] == len({pid for pid, _, _ in found})
        assert abs(result.weight[row] - sum(weights[keys[pid]] for pid, _, _ in found)) < 1e-9
        for name in m.categories:
            expected = sum(1 for pid, _, _ in found if name in cats[keys[pid]])
            assert result.category(name)[row] == expected
        assert result.status[row] == (1 if text is None else 0)


@SETTINGS
@given(corpus(), st.integers(0, 5), st.integers(0, 5), st.booleans())
def test_slices_and_chunks_match_oracle(data, cut, take, large):
    patterns, texts = data
    kind = pa.large_string() if large else pa.string()
    padded = ["ab", "zz"] + texts + ["aA"]
    arr = pa.array(padded, type=kind).slice(cut % len(padded), take + 1)
    sliced = padded[cut % len(padded):][: take + 1]
    m = Matcher(patterns)
    expected = oracle.counts(patterns, sliced)
    assert m.count(arr).tolist() == expected
    chunked = pa.chunked_array([arr, pa.array(texts, type=kind), arr.slice(1)], type=kind)
    expected_chunked = expected + oracle.counts(patterns, texts) + expected[1:]
    assert m.count(chunked).tolist() == expected_chunked
