"""The Arrow string layouts users hand over (``string_view`` from polars, dictionary-encoded,
all-null) read by Matcher, Classifier and Filter, and the text column checked once."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from engine import Classifier, Matcher, SchemaError
from engine.defaults import models_dir
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.io import arrow_buffers
from engine.io.arrow_buffers import CheckedText, as_string_array, check_text
from engine.match.matcher import ROW_INVALID_UTF8, ROW_NULL, ROW_OK
from tests import oracle
from tests.runkit import write_lists

TEXTS = ["sarin and anthrax", None, "nothing here", "SARIN sarin", "", "anthrax"]
PATTERNS = ["sarin", "anthrax"]


def dictionary_of(values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(*_codes(values))


def _codes(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Indices (null for null rows) and unique values, whatever the values' layout."""
    seen: dict[str, int] = {}
    codes = []
    for v in values.to_pylist():
        codes.append(None if v is None else seen.setdefault(v, len(seen)))
    return pa.array(codes, pa.int32()), pa.array(list(seen), values.type)


def layouts(texts: list[str | None]) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The same rows in every layout a user may pass."""
    view = pa.array(texts, pa.string_view())
    return {
        "string_view": view,
        "string_view_sliced": pa.array(["pad", *texts], pa.string_view()).slice(1),
        "string_view_chunked": pa.chunked_array([view.slice(0, 2), view.slice(2)]),
        "dictionary": pa.array(texts, pa.string()).dictionary_encode(),
        "dictionary_sliced": pa.array(["pad", *texts]).dictionary_encode().slice(1),
        "dictionary_int8_large": pa.DictionaryArray.from_arrays(
            _codes(pa.array(texts, pa.large_string()))[0].cast(pa.int8()),
            _codes(pa.array(texts, pa.large_string()))[1]),
        "dictionary_of_string_view": dictionary_of(view),
        "dictionary_chunked": pa.chunked_array(
            [pa.array(texts[:3]).dictionary_encode(), pa.array(texts[3:]).dictionary_encode()]),
    }


@pytest.mark.parametrize("layout", list(layouts(TEXTS)))
def test_matcher_counts_and_scans_every_string_layout(layout):
    column = layouts(TEXTS)[layout]
    m = Matcher(PATTERNS)
    assert m.count(column).tolist() == oracle.counts(PATTERNS, TEXTS) == [2, 0, 0, 2, 0, 1]
    result = m.scan(column)
    assert result.total.tolist() == [2, 0, 0, 2, 0, 1]
    assert result.status.tolist() == [ROW_OK, ROW_NULL, ROW_OK, ROW_OK, ROW_OK, ROW_OK]
    spans = m.spans(column)
    assert spans.row.tolist() == [0, 0, 3, 3, 5]


def test_all_null_column_counts_zero():
    assert Matcher(PATTERNS).count(pa.nulls(3)).tolist() == [0, 0, 0]


def test_non_string_dictionary_is_still_a_schema_error():
    with pytest.raises(SchemaError, match=r"\[E021\]"):
        Matcher(PATTERNS).count(pa.array([1, 2, 1]).dictionary_encode())
    with pytest.raises(SchemaError, match=r"\[E021\]"):
        Matcher(PATTERNS).count(pa.array([b"x"], pa.binary()))


@pytest.fixture(scope="module")
def spam():
    return Classifier.load(models_dir() / "spam-hashed")


@pytest.mark.parametrize("layout", ["string_view", "string_view_chunked", "dictionary",
                                    "dictionary_sliced", "dictionary_of_string_view"])
def test_classifier_scores_every_string_layout(spam, layout):
    expected = spam.score(pa.array(TEXTS, pa.string()))
    got = spam.score(layouts(TEXTS)[layout])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.fixture
def spec(tmp_path):
    return FilterSpec.from_toml(write_lists(tmp_path))


@pytest.mark.parametrize("layout", ["string_view", "dictionary", "dictionary_of_string_view"])
def test_filter_applies_to_every_string_layout(spec, layout):
    plain = pa.record_batch([pa.array(range(len(TEXTS))), pa.array(TEXTS)], ["id", "text"])
    other = plain.set_column(1, "text", layouts(TEXTS)[layout])
    expected = Filter(spec).apply(plain)
    got = Filter(spec).apply(other)
    assert got.by_reason == expected.by_reason == {"cbrn": 2, "null_text": 1}
    assert got.removed["id"].to_pylist() == expected.removed["id"].to_pylist()
    assert got.removed["fe_bl_terms"].to_pylist() == [["anthrax", "sarin"], [], ["sarin"]]
    # kept rows as given, except views (pyarrow cannot take or filter them): large_string
    given = other.schema.field("text").type
    assert got.kept["text"].type == (pa.large_string() if given == pa.string_view() else given)


def test_filter_splits_a_polars_style_batch_of_views(spec):
    """Every string column of a polars export is a view; all of them reach the outputs."""
    batch = pa.record_batch([pa.array([str(i) for i in range(len(TEXTS))], pa.string_view()),
                             pa.array(TEXTS, pa.string_view())], ["id", "text"])
    for mode in ("drop", "annotate"):
        result = Filter(spec.with_options(mode=mode)).apply(batch)
        rows = result.kept["id"].to_pylist()
        if mode == "drop":
            assert result.removed["id"].to_pylist() == ["0", "1", "3"]
            assert rows == ["2", "4", "5"]
        else:
            assert rows == ["0", "1", "2", "3", "4", "5"]
            assert result.kept["fe_keep"].to_pylist() == [False, False, True, False, True, True]


# -- the check at the boundary ----------------------------------------------------------

def _with_bad_row() -> pa.Array:
    values = [b"sarin ok", None, b"bad \xff sarin", b"anthrax"]
    return pa.array(values, pa.binary()).view(pa.string())


def test_check_text_converts_validates_and_nulls_bad_rows_once():
    text = check_text(_with_bad_row(), where="column 'text'")
    assert text.invalid.tolist() == [False, False, True, False]
    assert text.problems == ((2, "invalid UTF-8 at byte 4"),)
    assert text.null.tolist() == [False, True, True, False]
    assert text.row_bytes.tolist() == [8, 0, 0, 7]
    text.array.validate(full=True)  # the bad bytes are gone from the checked column
    assert check_text(text) is text  # already checked: handed back as it is
    assert as_string_array(text) is text.array
    sub = text.take(np.array([3, 2]))
    assert sub.invalid.tolist() == [False, True] and sub.problems == ((1, text.problems[0][1]),)


def test_check_text_converts_string_view_to_large_string_and_dictionary_to_its_values():
    assert check_text(pa.array(["a"], pa.string_view())).array.type == pa.large_string()
    assert check_text(pa.array(["a"]).dictionary_encode()).array.type == pa.string()
    assert check_text(pa.nulls(2)).array.type == pa.string()


def test_matcher_takes_checked_text_without_checking_it_again(monkeypatch):
    text = check_text(_with_bad_row())
    calls = []
    original = arrow_buffers._chunk_of
    monkeypatch.setattr(arrow_buffers, "_chunk_of", lambda *a: calls.append(1) or original(*a))
    m = Matcher(PATTERNS)
    result = m.scan(text)
    assert calls == []  # no layout check of its own
    assert result.status.tolist() == [ROW_OK, ROW_NULL, ROW_INVALID_UTF8, ROW_OK]
    assert result.total.tolist() == [1, 0, 0, 1]
    with pytest.raises(Exception, match=r"\[E026\] row 2"):
        m.count(text)


def test_classifier_scores_checked_text_and_invalid_rows_are_nan(spam):
    scores = spam.score(check_text(_with_bad_row()))
    assert np.isnan(scores).tolist() == [False, True, True, False]


def test_filter_checks_the_text_once_per_batch_and_scans_once(spec, monkeypatch):
    """One layout check and one UTF-8 pass per batch; the matched terms come from the
    same scan as the counts (issue 7)."""
    checks, validations, scans = [], [], []
    chunk_of, validated, run = arrow_buffers._chunk_of, arrow_buffers._validated, Matcher._run
    monkeypatch.setattr(arrow_buffers, "_chunk_of", lambda *a: checks.append(1) or chunk_of(*a))
    monkeypatch.setattr(arrow_buffers, "_validated",
                        lambda *a: validations.append(1) or validated(*a))
    monkeypatch.setattr(Matcher, "_run", lambda *a, **k: scans.append(1) or run(*a, **k))
    batch = pa.record_batch([pa.array(range(4)), _with_bad_row()], ["id", "text"])
    for mode in ("drop", "annotate"):
        checks.clear(), validations.clear(), scans.clear()
        result = Filter(spec.with_options(mode=mode)).apply(batch)
        # the rare bad-UTF-8 path rebuilds the chunk once after nulling the bad row
        assert (len(checks), len(validations), len(scans)) == (2, 1, 1), mode
        assert result.unreadable == [(2, "invalid UTF-8 at byte 4")]
    good = pa.record_batch([pa.array(range(3)), pa.array(["sarin anthrax", "x", None])],
                           ["id", "text"])
    checks.clear(), validations.clear(), scans.clear()
    result = Filter(spec.with_options(mode="annotate")).apply(good)
    assert (len(checks), len(validations), len(scans)) == (1, 1, 1)
    assert result.kept["fe_bl_terms"].to_pylist() == [["anthrax", "sarin"], [], []]


def test_checked_text_is_what_stages_receive(spec, monkeypatch):
    from engine.filter import stages

    seen = []
    run = stages.BlocklistStage.run
    monkeypatch.setattr(stages.BlocklistStage, "run",
                        lambda self, text, cols: seen.append(text) or run(self, text, cols))
    Filter(spec).apply(pa.table({"text": pa.array(TEXTS, pa.string_view())}))
    assert isinstance(seen[0], CheckedText) and seen[0].invalid is not None
