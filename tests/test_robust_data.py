"""The robust-matching data: default-ignorables, the confusable skeleton, HTML references.

The committed tables are rebuilt here from their sources (``regex`` and
``confusable-homoglyphs``, both in the ``test`` extra) and must match.
"""

from __future__ import annotations

import html
import importlib.util
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.match import robust_data
from engine.match.robust_data import (
    confusable_skeleton,
    default_ignorable_ranges,
    html_references,
    is_default_ignorable,
)

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location(
        "build_unicode_data", ROOT / "src_cython" / "build_unicode_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def robust_form(text: str) -> str:
    """The matcher's order of steps: NFKC, lower-casing, then the skeleton."""
    skeleton = confusable_skeleton()
    return "".join(skeleton.get(ch, ch) for ch in unicodedata.normalize("NFKC", text).lower())


# -- Default_Ignorable_Code_Point ------------------------------------------------------------

@pytest.mark.parametrize("cp", [0x00AD, 0x034F, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060,
                                0xFE00, 0xFE0F, 0xFEFF, 0x3164, 0xE0001, 0xE0FFF])
def test_default_ignorable_members(cp):
    assert is_default_ignorable(cp)


@pytest.mark.parametrize("cp", [-1, 0x00, 0x20, ord("a"), 0xA0, 0x0300, 0x200A, 0x2010,
                                0x2800, 0xFE10, 0xE1000, 0x110000])
def test_default_ignorable_non_members(cp):
    # U+0300 combining grave is Case_Ignorable in the UCD but not Default_Ignorable.
    assert not is_default_ignorable(cp)


def test_default_ignorable_ranges_are_sorted_disjoint_and_agree_with_the_predicate():
    ranges = default_ignorable_ranges()
    assert all(first <= last for first, last in ranges)
    gaps = zip(ranges, ranges[1:], strict=False)
    assert all(prev_last + 1 < first for (_, prev_last), (first, _) in gaps)
    for first, last in ranges:
        assert is_default_ignorable(first) and is_default_ignorable(last)
        assert not is_default_ignorable(first - 1) and not is_default_ignorable(last + 1)


# -- Confusable skeleton ---------------------------------------------------------------------

def test_skeleton_maps_non_ascii_characters_to_lower_case_ascii():
    skeleton = confusable_skeleton()
    assert skeleton
    for key, value in skeleton.items():
        assert len(key) == 1 and not key.isascii(), hex(ord(key))
        assert re.fullmatch(r"[a-z0-9]+", value), (hex(ord(key)), value)


def test_skeleton_leaves_ascii_text_untouched():
    text = "".join(map(chr, range(128)))
    assert "".join(confusable_skeleton().get(ch, ch) for ch in text) == text


def test_skeleton_returns_a_copy():
    confusable_skeleton()["\u0430"] = "x"
    assert confusable_skeleton()["\u0430"] == "a"


@pytest.mark.parametrize(("text", "expected"), [
    ("s\u0430rin", "sarin"),                    # Cyrillic а (UTS #39's own mapping)
    ("\u039cimikatz", "mimikatz"),              # Greek capital Mu lowers to μ (a case entry)
    ("\u039c\u0456\u043c\u0456katz", "mimikatz"),  # Cyrillic і, м
    ("m\u03b9m\u03b9k\u03b1tz", "mimikatz"),    # Greek ι α
    ("\u0421\u043ebalt \u0405trike", "cobalt strike"),  # Cyrillic С о Ѕ
    ("\u0422\u041d\u0422", "tht"),              # Cyrillic capitals Т Н lower to т н
    ("\uff53\uff41\uff52\uff49\uff4e", "sarin"),  # full-width letters (NFKC does it)
    ("\u0131\u0261", "ig"),                      # Latin dotless i, script g
])
def test_skeleton_in_the_matchers_order(text, expected):
    assert robust_form(text) == expected


def test_skeleton_keeps_what_uts39_does_not_call_confusable():
    # Greek lambda and Cyrillic ya look like no ASCII letter to UTS #39.
    assert robust_form("\u03bb\u044f") == "\u03bb\u044f"


def test_skeleton_is_closed_under_nfkc_and_lower_casing():
    """Whatever the steps before it make of a key, the skeleton still maps it."""
    regex = pytest.importorskip("regex")
    in_scope = regex.compile(
        r"[\p{sc=Latin}\p{sc=Cyrillic}\p{sc=Greek}\p{Block=Halfwidth_And_Fullwidth_Forms}]")
    skeleton = confusable_skeleton()
    for key in skeleton:
        assert in_scope.match(key), hex(ord(key))
        form = unicodedata.normalize("NFKC", key).lower()
        if len(form) == 1 and not form.isascii() and in_scope.match(form):
            assert form in skeleton, (hex(ord(key)), hex(ord(form)))


# -- Regenerate and compare ------------------------------------------------------------------

def _versions(text: str) -> list[str]:
    """What a table depends on: Unicode versions and the confusables package release."""
    return (re.findall(r"^# (?:Unicode|NFKC).*$", text, re.M)
            + re.findall(r"confusable-homoglyphs \S+", text))


@pytest.mark.parametrize(("filename", "render"), [
    ("default_ignorable.txt", "render_default_ignorable"),
    ("confusable_skeleton.txt", "render_skeleton"),
])
def test_committed_tables_match_their_sources(filename, render):
    pytest.importorskip("regex")
    pytest.importorskip("confusable_homoglyphs")
    committed = (robust_data.DATA / filename).read_text("utf-8")
    rebuilt = getattr(_generator(), render)()

    def data(text: str) -> list[str]:
        return [line.split("#", 1)[0] for line in text.splitlines() if not line.startswith("#")]

    if data(rebuilt) != data(committed) and _versions(rebuilt) != _versions(committed):
        pytest.skip(f"installed sources {_versions(rebuilt)} differ from the table's "
                    f"{_versions(committed)}: run src_cython/build_unicode_data.py")
    assert data(rebuilt) == data(committed)


def test_direction_of_confusables_graph_is_recovered():
    """Every in-scope source the generator finds is a key, never a prototype, in UTS #39."""
    pytest.importorskip("confusable_homoglyphs")
    prototypes = _generator().ts39_prototypes()
    assert prototypes["\u0430"] == "a" and prototypes["\u039c"] == "M"
    assert not set(prototypes) & set(prototypes.values())


# -- HTML character references ---------------------------------------------------------------

def _decode(text: str) -> str:
    pieces, at = [], 0
    for start, end, decoded in html_references(text):
        assert at <= start < end and text[start] == "&"
        pieces += [text[at:start], decoded]
        at = end
    return "".join(pieces) + text[at:]


@pytest.mark.parametrize(("text", "expected"), [
    ("s&#97;rin", [(1, 6, "a")]),
    ("s&#x61;rin", [(1, 7, "a")]),
    ("s&#X61rin", [(1, 6, "a")]),            # ';' is optional for numeric references
    ("s&amp;p", [(1, 6, "&")]),
    ("&ampx", [(0, 4, "&")]),                # legacy name without ';', then text
    ("&notit;", [(0, 4, "\u00ac")]),         # longest legacy prefix: &not
    ("&NotEqualTilde;", [(0, 15, "\u2242\u0338")]),
    ("&#0;&#xD800;&#x110000;", [(0, 4, "\ufffd"), (4, 12, "\ufffd"), (12, 22, "\ufffd")]),
    ("&#150;", [(0, 6, "\u2013")]),          # C1 range read as windows-1252
    ("&#1;&#xFFFF;", [(0, 4, ""), (4, 12, "")]),  # forbidden code points decode to nothing
    ("&bogus; & &; &#; &#x;", []),
    ("no references", []),
])
def test_html_references_examples(text, expected):
    assert html_references(text) == expected
    assert _decode(text) == html.unescape(text)


_FRAGMENTS = st.sampled_from([
    "&", "#", "x", "X", ";", " ", "\n", "a", "amp", "lt", "not", "notin", "AElig", "copy",
    "NotEqualTilde", "97", "0", "150", "x61", "1114112", "55296", "D800", "fffe", "zz",
    "&#", "&#x", "&amp;", "&ampx", "&notit;", "\u00e9", "\u200b",
])


@given(st.lists(_FRAGMENTS | st.text(max_size=3), max_size=30).map("".join))
def test_html_references_reconstruct_html_unescape(text):
    assert _decode(text) == html.unescape(text)
