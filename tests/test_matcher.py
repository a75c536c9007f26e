"""Unit tests of engine.Matcher: semantics, inputs, files, limits, save/load."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from engine import (
    Matcher,
    MatcherStateError,
    PatternError,
    SchemaError,
    TextError,
    UsageError,
)
from engine.match.matcher import ROW_INVALID_UTF8, ROW_NULL, ROW_OK
from engine.match.patterns import PatternLimits
from tests import oracle


def test_matcher_counts_overlapping_patterns():
    m = Matcher(["he", "she", "his", "hers"], whole_words=False)
    assert m.count(["ushers"]).tolist() == [3]  # she, he, hers


def test_matcher_counts_patterns_that_are_prefixes_of_each_other():
    m = Matcher(["a", "aa", "aaa"], whole_words=False)
    assert m.count(["aaaa"]).tolist() == [4 + 3 + 2]


def test_whole_words_uses_unicode_alphanumerics():
    m = Matcher(["sarin"])
    texts = ["sarin.", "xsarin", "sarinx", "ésarin", "sarin中", "_sarin_", "“sarin”", "sarin٣"]
    assert m.count(texts).tolist() == [1, 0, 0, 0, 0, 1, 1, 0]


def test_ignore_case_is_python_lower_not_ascii_folding():
    m = Matcher(["straße", "kelvin", "i̇stanbul"])
    # U+212A KELVIN SIGN lowers to ASCII k; capital I with dot lowers to two code points.
    texts = ["STRASSE", "STRAẞE", "\u212aelvin", "İSTANBUL"]
    assert m.count(texts).tolist() == oracle.counts(m.patterns, texts) == [0, 1, 1, 1]


def test_final_sigma_follows_python():
    m = Matcher(["ς", "σ"], whole_words=False)
    texts = ["ΟΔΟΣ", "ΣΑ", "Α'Σ'", "1Σ", "ΑΣ\u0301Β"]
    assert m.count(texts).tolist() == oracle.counts(["ς", "σ"], texts, whole_words=False)


def test_case_sensitive_matching():
    m = Matcher(["VX"], ignore_case=False)
    assert m.count(["VX vx Vx"]).tolist() == [1]


def test_nfkc_matches_compatibility_forms_and_spans_point_into_original():
    m = Matcher(["ricin"], normalize="nfkc")
    text = "ｒｉｃｉｎ and ricin"
    assert m.count([text]).tolist() == [2]
    found = m.find(text)
    assert [text[f.start:f.end] for f in found] == ["ｒｉｃｉｎ", "ricin"]


def test_nulls_give_zero_and_are_reported():
    m = Matcher(["anthrax"])
    arr = pa.array(["anthrax", None, "no"])
    assert m.count(arr).tolist() == [1, 0, 0]
    assert m.scan(arr).status.tolist() == [ROW_OK, ROW_NULL, ROW_OK]


def test_invalid_utf8_raises_in_count_and_is_reported_by_scan():
    data = b"anthrax" + b"\xff\xfe" + b"anthrax"
    arr = pa.Array.from_buffers(
        pa.string(), 3, [None, pa.py_buffer(np.array([0, 7, 9, 16], np.int32)),
                         pa.py_buffer(data)])
    m = Matcher(["anthrax"])
    with pytest.raises(TextError, match=r"\[E026\] row 1"):
        m.count(arr)
    result = m.scan(arr)
    assert result.status.tolist() == [ROW_OK, ROW_INVALID_UTF8, ROW_OK]
    assert result.total.tolist() == [1, 0, 1]


@pytest.mark.parametrize("offsets, message", [
    ([0, 5, 3], "row 1: offsets decrease"),
    ([0, 5, 99], "row 1: ends at byte 99"),
    ([-4, 0, 4], "row 0: negative start"),
])
def test_malformed_offsets_raise_before_the_kernel_reads(offsets, message):
    # Arrow validates at construction, so corrupt the shared offsets buffer afterwards,
    # as a bad IPC file or a buggy producer would.
    raw = np.array([0, 4, 8], np.int32)
    arr = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(raw),
                                                 pa.py_buffer(b"abcdefgh")])
    raw[:] = offsets
    with pytest.raises(SchemaError, match=message):
        Matcher(["abc"]).count(arr)


def test_non_string_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="E021"):
        Matcher(["a"]).count(pa.array([1, 2]))


def test_sliced_large_and_chunked_inputs_agree():
    texts = ["tabun", "x tabun y", None, "TABUN tabun", "none"]
    m = Matcher(["tabun"])
    expected = oracle.counts(["tabun"], texts)
    assert m.count(pa.array(texts, pa.large_string())).tolist() == expected
    assert m.count(pa.array(["pad"] + texts).slice(1)).tolist() == expected
    chunked = pa.chunked_array([texts[:2], texts[2:]], pa.string())
    assert m.count(chunked).tolist() == expected
    assert m.count(pa.chunked_array([], pa.string())).tolist() == []


def test_scan_reports_categories_distinct_and_weights():
    m = Matcher([("sarin", "chem", 2.0), ("anthrax", "bio", 1.5), ("sarin", "cwc", 1.0)])
    result = m.scan(["sarin sarin anthrax", "nothing"])
    assert result.total.tolist() == [3, 0]
    assert result.distinct.tolist() == [2, 0]
    assert result.category("chem").tolist() == [2, 0]
    assert result.category("cwc").tolist() == [2, 0]
    assert result.category("bio").tolist() == [1, 0]
    assert result.weight.tolist() == [2.0 * 2 + 1.5, 0.0]


def test_spans_are_byte_offsets_into_the_original_text():
    text = "Über VX and ÜBER"
    m = Matcher(["über"])
    spans = m.spans([text])
    raw = text.encode()
    assert [raw[s:e].decode() for s, e in zip(spans.start, spans.end, strict=True)] == [
        "Über", "ÜBER"]
    assert m.find(text) == [(0, 4, "über", ("default",)), (12, 16, "über", ("default",))]


def test_patterns_from_files_with_categories_and_merged_duplicates(tmp_path):
    (tmp_path / "chemical.txt").write_text("# source: test\nsarin\n\n  soman  \nSARIN\n")
    (tmp_path / "extra.tsv").write_text("pattern\tcategory\tweight\nanthrax\tbio\t3\nsoman\t\t2\n")
    (tmp_path / "more.jsonl").write_text(
        json.dumps({"pattern": "ricin", "weight": 0.5}) + "\n\n"
        + json.dumps({"pattern": "tabun", "category": "chemical"}) + "\n")
    m = Matcher.from_files(sorted(tmp_path.iterdir()))
    assert m.patterns == ["sarin", "soman", "anthrax", "ricin", "tabun"]
    assert m.categories == ["chemical", "bio", "extra", "more"]
    assert m.pattern_categories(1) == ("chemical", "extra")
    result = m.scan(["Sarin soman anthrax ricin tabun"])
    assert result.category("chemical").tolist() == [3]
    assert result.weight.tolist() == [1 + 2 + 3 + 0.5 + 1]


@pytest.mark.parametrize("name, content, message", [
    ("a.tsv", "pattern\tweight\n\t1\n", r"a.tsv:2: empty pattern"),
    ("b.jsonl", '{"pattern": "x"}\n{"pattern": ""}\n', r"b.jsonl:2: empty pattern"),
    ("c.jsonl", '{"pattern": "x"}\nnot json\n', r"c.jsonl:2: invalid JSON"),
    ("d.tsv", "word\n", r"d.tsv:1: header has no 'pattern'"),
    ("e.tsv", "pattern\tweight\nx\tlots\n", r"e.tsv:2: weight 'lots'"),
    ("f.csv", "x\n", r"\[E014\] blocklist .*f.csv: unsupported format"),
])
def test_bad_blocklist_files_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PatternError, match=message):
        Matcher.from_files([path])


def test_invalid_utf8_in_a_blocklist_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(PatternError, match=r"bad.txt:2: not valid UTF-8"):
        Matcher.from_files(path)


def test_paths_in_the_iterable_are_blocklist_files(tmp_path):
    (tmp_path / "cwc.txt").write_text("sarin\n")
    m = Matcher([tmp_path / "cwc.txt", ("vx nerve agent", "extra")])
    assert m.categories == ["cwc", "extra"]
    assert m.count(["Sarin or VX nerve agent"]).tolist() == [2]
    with pytest.raises(PatternError, match="not one string"):
        Matcher("sarin")


def test_empty_pattern_in_an_iterable_is_an_error():
    with pytest.raises(PatternError, match=r"\[E011\] pattern #1: empty pattern"):
        Matcher(["ok", ""])
    with pytest.raises(PatternError, match="no patterns"):
        Matcher([])


def test_limits_are_checked_before_building():
    with pytest.raises(PatternError, match="max_patterns"):
        Matcher(["a", "b", "c"], limits=PatternLimits(max_patterns=2))
    with pytest.raises(PatternError, match="max_pattern_bytes"):
        Matcher(["abc", "def"], limits=PatternLimits(max_pattern_bytes=5))
    with pytest.raises(PatternError, match=r"would take .* bytes .*max_automaton_bytes"):
        Matcher(["abcdef"], limits=PatternLimits(max_automaton_bytes=64))


def test_save_load_round_trip_is_memory_mapped(tmp_path):
    texts = ["VX and sarin", "Sarin!", None, "nothing here"]
    m = Matcher([("sarin", "chem", 2.0), ("vx", "chem", 1.0)], whole_words=True)
    path = m.save(tmp_path / "m.fem")
    loaded = Matcher.load(path)
    assert loaded.patterns == m.patterns and loaded.categories == m.categories
    assert (loaded.whole_words, loaded.ignore_case, loaded.normalize) == (True, True, None)
    assert loaded.scan(texts).total.tolist() == m.scan(texts).total.tolist() == [2, 1, 0, 0]
    assert not loaded._arrays["table"].flags.writeable


def test_pickled_matcher_travels_by_path_or_bytes(tmp_path):
    m = Matcher(["sarin"])
    assert pickle.loads(pickle.dumps(m)).count(["sarin"]).tolist() == [1]
    loaded = Matcher.load(m.save(tmp_path / "m.fem"))
    assert len(pickle.dumps(loaded)) < 200  # the path, not the tables
    assert pickle.loads(pickle.dumps(loaded)).count(["sarin"]).tolist() == [1]


def test_corrupt_or_foreign_files_raise_a_clear_error(tmp_path):
    path = Matcher(["sarin", "soman"]).save(tmp_path / "m.fem")
    raw = bytearray(path.read_bytes())
    (tmp_path / "foreign.fem").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(MatcherStateError, match="E016"):
        Matcher.load(tmp_path / "foreign.fem")
    newer = bytearray(raw)
    newer[8] = 99
    (tmp_path / "newer.fem").write_bytes(bytes(newer))
    with pytest.raises(MatcherStateError, match="E017"):
        Matcher.load(tmp_path / "newer.fem")
    (tmp_path / "short.fem").write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(MatcherStateError, match="E018"):
        Matcher.load(tmp_path / "short.fem")


def test_every_flipped_table_word_is_caught_or_harmless(tmp_path):
    """Corrupting any transition must give an error at load, never a crash at scan."""
    m = Matcher(["sarin", "soman", "tabun"])
    path = m.save(tmp_path / "m.fem")
    raw = path.read_bytes()
    table_at = raw.index(np.asarray(m._arrays["table"]).tobytes())
    script = (
        "import sys; from engine import Matcher, MatcherStateError\n"
        "try:\n m = Matcher.load(sys.argv[1])\nexcept MatcherStateError: sys.exit(0)\n"
        "m.count(['sarin soman tabun ' * 50]); m.spans(['sarin tabun'])\n"
    )
    for word in range(0, m._arrays["table"].size, 7):
        bad = bytearray(raw)
        bad[table_at + 4 * word : table_at + 4 * word + 4] = (0xFFFF0001).to_bytes(4, "little")
        corrupt = tmp_path / "bad.fem"
        corrupt.write_bytes(bytes(bad))
        done = subprocess.run([sys.executable, "-c", script, str(corrupt)], capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-500:]


def test_unicode_table_cache_round_trips(tmp_path):
    script = (
        "from engine.match import unicode_tables as u; import numpy as np\n"
        "t = u.kernel_tables()\n"
        "assert np.array_equal(t['alnum'], u.alnum_bitmap())\n"
        "assert all(np.array_equal(a, b) for a, b in zip("
        "(t['lower_pages'], t['lower_entries'], t['lower_pool']), u.lower_tables()))\n"
        "assert np.array_equal(t['cased'], u.sigma_context_bitmaps()[0])\n"
        "print(u._cache_path())\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr
    assert Path(first.stdout.strip()).exists()
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True)
    assert second.returncode == 0, second.stderr


@pytest.mark.parametrize("name, value", [
    ("ignore_case", False), ("whole_words", False), ("normalize", "nfkc"),
    ("categories", ["x"]), ("patterns", ["x"]), ("options", None), ("extra", 1),
])
def test_matcher_options_are_read_only_after_build(name, value):
    m = Matcher([("sarin", "chem")], whole_words=True)
    with pytest.raises(AttributeError):
        setattr(m, name, value)
    m.categories.append("other")  # a copy: the matcher does not change
    m.patterns.append("other")
    assert m.categories == ["chem"] and m.patterns == ["sarin"]
    assert (m.ignore_case, m.whole_words, m.normalize) == (True, True, None)
    assert m.count(["Sarin", "sarinx"]).tolist() == [1, 0]


def test_every_way_to_get_a_matcher_goes_through_one_set_up(tmp_path, monkeypatch):
    (tmp_path / "cwc.txt").write_text("sarin\n")
    built = Matcher(["sarin"], ignore_case=False, whole_words=False, normalize="nfkc")
    saved = built.save(tmp_path / "m.fem")
    calls = []
    setup = Matcher._setup

    def spy(self, header, arrays, *, path):
        calls.append(path)
        setup(self, header, arrays, path=path)

    monkeypatch.setattr(Matcher, "_setup", spy)
    made = {
        "init": Matcher(["sarin"], ignore_case=False, whole_words=False, normalize="nfkc"),
        "from_files": Matcher.from_files([tmp_path / "cwc.txt"], ignore_case=False,
                                         whole_words=False, normalize="nfkc"),
        "load": Matcher.load(saved),
        "unpickle_bytes": pickle.loads(pickle.dumps(built)),
        "unpickle_path": pickle.loads(pickle.dumps(Matcher.load(saved))),
    }
    assert calls == [None, None, saved.resolve(), None, saved.resolve(), saved.resolve()]
    for how, m in made.items():
        assert (m.ignore_case, m.whole_words, m.normalize) == (False, False, "nfkc"), how
        assert m.count(["ｓａｒｉｎ", "SARIN", "xsarinx"]).tolist() == [1, 0, 1], how


def test_matcher_bad_normalize_is_refused_by_every_builder(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    with pytest.raises(UsageError, match=r"\[E007\]"):
        Matcher(["x"], normalize="nfc")
    with pytest.raises(UsageError, match=r"\[E007\]"):
        Matcher.from_files([tmp_path / "a.txt"], normalize="nfc")


def test_scan_with_spans_gives_the_spans_of_the_same_pass():
    texts = ["sarin anthrax sarin", None, "nothing", "ANTHRAX"]
    m = Matcher(["sarin", "anthrax"])
    result = m.scan(texts, with_spans=True)
    spans = m.spans(texts)
    assert result.total.tolist() == [3, 0, 0, 1]
    for field in ("row", "start", "end", "pattern_id"):
        assert getattr(result.spans, field).tolist() == getattr(spans, field).tolist()
    assert m.scan(texts).spans is None


def test_a_corrupt_pickled_matcher_is_a_matcher_state_error():
    m = Matcher(["sarin"])
    header, arrays = m.__reduce__()[1]
    arrays = dict(arrays, cat_ids=np.array([7], np.int32))
    from engine.match.matcher import _from_bytes

    with pytest.raises(MatcherStateError, match=r"\[E018\] pickled matcher"):
        _from_bytes(header, arrays)


def test_weights_are_read_only_and_follow_pattern_ids():
    m = Matcher([("sarin", "chemical", 0.3), ("Emotet", "malware", 1.0), ("SARIN", "x", 0.7)])
    assert m.patterns == ["sarin", "Emotet"]
    assert m.weights.tolist() == [0.7, 1.0]  # duplicates merged: the highest weight is kept
    with pytest.raises(ValueError):
        m.weights[0] = 5.0


@pytest.mark.parametrize("normalize", [None, "robust"])
def test_word_edges_inside_long_ascii_runs_of_a_transformed_row(normalize):
    """A row the kernel lower-cases with word edges judged on the original (it holds İ)
    copies its ASCII 32 bytes at a time and fills their edges run by run: a pattern
    inside a longer word is no whole word (``_`` is a separator), at every offset
    against those runs."""
    m = Matcher(["sarin"], whole_words=True, normalize=normalize)
    texts = ["İ" + "x" * k + " xsarinx sarin sarinx xsarin _sarin " + "y" * 40
             for k in range(40)]
    assert m.count(texts).tolist() == oracle.counts(["sarin"], texts, whole_words=True,
                                                    normalize=normalize)
    assert set(m.count(texts).tolist()) == {2}  # " sarin " and "_sarin "
