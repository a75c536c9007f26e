"""Property tests: the compiled matcher against the pure-Python oracle, every option."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Matcher
from engine.match.patterns import PatternLimits
from engine.match.text_transform import STEPS
from tests import oracle

# Letters with interesting lower-casing and boundaries: ASCII, accented, Greek (capital
# sigma's lowering depends on context), dotted I (lowers to two code points), the Kelvin
# sign (lowers to ASCII k), full-width and ligature forms (NFKC), CJK and kana (no word
# boundaries), combining marks, digits, separators (NBSP, em dash, tab, _), ignorables
# (soft hyphen, ZWSP, ZWJ), look-alikes (Cyrillic а, Greek Μ ο), the ends of inflections
# and the pieces of character references.
ALPHABET = list("abcsAB hH-_.,'’é É ßẞΣσςİıKﬁＡａ中文サン١2\u0301\u02b0\u00a0\n\t&#;") + [
    "\u2014", "\U0001d400", "\u00ad", "\u200b", "\u200d", "\u0430", "\u039c", "\u03bf",
    "\u2122"]
REFERENCES = ["&#97;", "&#x73;", "&amp;", "&lt;", "&shy;", "&nbsp;", "&#8203;"]
SETTINGS = settings(max_examples=600, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
NORMALIZE = st.one_of(
    st.sampled_from([None, "nfkc", "robust"]),
    st.sets(st.sampled_from(STEPS)).map(lambda s: tuple(x for x in STEPS if x in s)))


@st.composite
def options(draw):
    normalize = draw(NORMALIZE)
    steps = oracle._steps(normalize)
    return {
        "ignore_case": draw(st.booleans()),
        "whole_words": draw(st.booleans()),
        "normalize": normalize,
        "join": "separators" in steps and draw(st.booleans()),
        "inflect": draw(st.sampled_from([None, True, False])),
    }


def _usable(p: str) -> bool:
    return all(oracle.transform(p, case, norm)
               for case in (True, False) for norm in (None, "nfkc", "robust"))


pattern_text = st.text(alphabet=ALPHABET, min_size=1, max_size=5).filter(_usable)


@st.composite
def corpus(draw):
    patterns = draw(st.lists(pattern_text, min_size=1, max_size=6))
    pieces = st.one_of(st.sampled_from(patterns), st.text(alphabet=ALPHABET, max_size=4),
                       st.sampled_from(REFERENCES))
    texts = draw(st.lists(
        st.one_of(st.none(), st.lists(pieces, max_size=7).map("".join)),
        min_size=1, max_size=5))
    return patterns, texts


def _spans(found):
    return sorted(zip(found.row.tolist(), found.start.tolist(), found.end.tolist(),
                      found.pattern_id.tolist(), strict=True))


@SETTINGS
@given(corpus(), options(), st.sampled_from([PatternLimits().dense_bytes, 1, 2000]))
def test_counts_and_spans_match_oracle(data, opts, dense_bytes):
    """``dense_bytes`` 1: only the root has a dense row, every other state is sparse."""
    patterns, texts = data
    m = Matcher(patterns, limits=PatternLimits(dense_bytes=dense_bytes), **opts)
    assert m.count(texts).tolist() == oracle.counts(patterns, texts, **opts)
    assert _spans(m.spans(texts)) == oracle.byte_spans(patterns, texts, **opts)


@SETTINGS
@given(st.lists(st.sampled_from(["stanbul", "i", "ß", "ss", "sarin", "k"]), min_size=1,
                max_size=3),
       st.lists(st.text(alphabet=list("İıiIsStanbulßẞkK\u212a \u0307x"), max_size=12),
                min_size=1, max_size=4),
       st.sampled_from([None, "nfkc", "robust"]))
def test_whole_words_judge_the_original_neighbours(patterns, texts, normalize):
    # The İ bug: the boundary after İ used to be judged on its lower-casing (i + U+0307,
    # not alphanumeric), so "stanbul" was a whole word in "İstanbul".
    m = Matcher(patterns, normalize=normalize, inflect=False)
    found = m.spans(texts)
    for row, start, end in zip(found.row.tolist(), found.start.tolist(),
                               found.end.tolist(), strict=True):
        raw = texts[row].encode()
        before = raw[:start].decode()[-1:]
        after = raw[end:].decode()[:1]
        assert not before.isalnum() and not after.isalnum(), (texts[row], start, end)


@SETTINGS
@given(corpus(), st.booleans())
def test_scan_detail_matches_oracle(data, whole_words):
    patterns, texts = data
    tagged = [(p, f"cat{i % 3}", float(i + 1)) for i, p in enumerate(patterns)]
    m = Matcher(tagged, whole_words=whole_words, normalize="robust", join=True)
    result = m.scan(texts)
    opts = {"whole_words": whole_words, "normalize": "robust", "join": True}
    keys = oracle.unique_patterns(patterns, True, "robust")
    # Merged duplicates unite categories and keep the highest weight.
    cats: dict[str, set[str]] = {}
    weights: dict[str, float] = {}
    for p, cat, w in tagged:
        key = oracle.transform(p, True, "robust")
        cats.setdefault(key, set()).add(cat)
        weights[key] = max(weights.get(key, w), w)
    for row, text in enumerate(texts):
        found = [] if text is None else oracle.occurrences(keys, text, **opts)
        assert result.total[row] == len(found)
        assert result.distinct[row] == len({pid for pid, _, _ in found})
        assert abs(result.weight[row] - sum(weights[keys[pid]] for pid, _, _ in found)) < 1e-9
        for name in m.categories:
            expected = sum(1 for pid, _, _ in found if name in cats[keys[pid]])
            assert result.category(name)[row] == expected
        assert result.status[row] == (1 if text is None else 0)


@SETTINGS
@given(corpus(), st.integers(0, 5), st.integers(0, 5), st.booleans(),
       st.sampled_from([None, "robust"]))
def test_slices_and_chunks_match_oracle(data, cut, take, large, normalize):
    patterns, texts = data
    kind = pa.large_string() if large else pa.string()
    padded = ["ab", "zz"] + texts + ["aA"]
    arr = pa.array(padded, type=kind).slice(cut % len(padded), take + 1)
    sliced = padded[cut % len(padded):][: take + 1]
    m = Matcher(patterns, normalize=normalize)
    expected = oracle.counts(patterns, sliced, normalize=normalize)
    assert m.count(arr).tolist() == expected
    chunked = pa.chunked_array([arr, pa.array(texts, type=kind), arr.slice(1)], type=kind)
    expected_chunked = expected + oracle.counts(patterns, texts, normalize=normalize) + expected[1:]
    assert m.count(chunked).tolist() == expected_chunked
