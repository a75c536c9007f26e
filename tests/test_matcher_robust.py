"""The matcher's normalisation steps, options and their persistence (issue 9)."""

from __future__ import annotations

import pickle
import unicodedata

import numpy as np
import pytest

from engine import Matcher, MatcherStateError, UsageError
from engine.cli import main
from engine.match import file_format, text_transform
from engine.match.matcher import MatcherOptions
from tests import oracle


def _found(m: Matcher, text: str) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.pattern) for f in m.find(text)]


def test_issue_9_dotted_capital_i_is_not_a_word_boundary():
    # İ lowers to i + U+0307; the boundary used to be judged on the lowered text.
    for normalize in (None, "nfkc", "robust"):
        m = Matcher(["stanbul", "i"], normalize=normalize, inflect=False)
        assert m.count(["İstanbul", "İI", "xİ"]).tolist() == [0, 0, 0], normalize
        # "i" is only part of what İ becomes: no whole word ends inside a character.
        assert m.count(["İ stanbul", "I", "İ"]).tolist() == [1, 1, 0], normalize


def test_robust_steps_each_catch_their_own_evasion():
    cases = {
        ("html",): "s&#97;rin",
        ("nfkc",): "ｓａｒｉｎ",
        ("ignorables",): "sa\u00adrin",
        ("confusables",): "s\u0430rin",
    }
    for steps, text in cases.items():
        assert Matcher(["sarin"], normalize=steps).count([text]).tolist() == [1], steps
        assert Matcher(["sarin"]).count([text]).tolist() == [0], steps
    seps = Matcher(["nerve agent"], normalize=("separators",))
    assert seps.count(["nerve-agent", "nerve \t_\u2014\u00a0 agent", "nerveagent"]).tolist() == [
        1, 1, 0]


def test_separators_inside_patterns_collapse_and_edges_are_dropped():
    m = Matcher(["  Cobalt--Strike_ "], normalize="robust")
    assert m.patterns == ["  Cobalt--Strike_ "]
    assert m.normalized("  Cobalt--Strike_ ") == "cobalt strike"
    text = "use Cobalt \n Strike now"
    assert _found(m, text) == [("Cobalt \n Strike", "  Cobalt--Strike_ ")]


def test_join_matches_the_form_without_separators_and_needs_the_step():
    m = Matcher(["cobalt strike", "cobaltstrike"], normalize="robust", join=True)
    # "CobaltStrike" is both patterns: the joined form of one, the other itself.
    assert sorted(p for _, p in _found(m, "CobaltStrike")) == ["cobalt strike", "cobaltstrike"]
    assert Matcher(["cobalt strike"], normalize="robust").count(["CobaltStrike"]).tolist() == [0]
    with pytest.raises(UsageError, match=r"\[E001\].*separators"):
        Matcher(["cobalt strike"], normalize="nfkc", join=True)


def test_inflection_accepts_plural_and_possessive_endings_only():
    m = Matcher(["botnet", "nerve agent"], normalize="robust")
    texts = ["botnets", "botnetes", "BOTNETS", "botnet's", "botnet’s", "botnetsx", "botneting",
             "nerve agents"]
    assert m.count(texts).tolist() == [1, 1, 1, 1, 1, 0, 0, 1]
    assert _found(m, "two botnets.") == [("botnets", "botnet")]
    off = Matcher(["botnet"], normalize="robust", inflect=False)
    assert off.count(["botnets", "botnet's"]).tolist() == [0, 1]
    assert Matcher(["botnet"], inflect=True).count(["botnets"]).tolist() == [1]


def test_scripts_without_spaces_need_no_word_boundary():
    m = Matcher(["サリン", "沙林", "sarin"], normalize="robust")
    assert _found(m, "これはサリンです") == [("サリン", "サリン")]
    assert _found(m, "沙林毒气") == [("沙林", "沙林")]
    # A Latin pattern edge still needs one, even next to Han.
    assert m.count(["sarin中", "中 sarin"]).tolist() == [0, 1]


def test_spans_point_into_the_original_text():
    m = Matcher(["sarin", "mimikatz"], normalize="robust")
    text = "x s&#97;r\u00adin, \u039cimikatz. ｓａｒｉｎ"
    assert [t for t, _ in _found(m, text)] == ["s&#97;r\u00adin", "\u039cimikatz", "ｓａｒｉｎ"]
    spans = m.spans([text])
    raw = text.encode()
    assert [raw[s:e].decode() for s, e in zip(spans.start.tolist(), spans.end.tolist(),
                                               strict=True)] == [
        "s&#97;r\u00adin", "\u039cimikatz", "ｓａｒｉｎ"]


def test_rows_the_kernel_leaves_to_python_are_cut_to_words():
    # A combining mark and a reference send their words to the exact path; the rest of
    # the row is the kernel's, and both halves agree with the oracle.
    m = Matcher(["sarin", "t\u0361s"], normalize="robust")
    text = ("sarin " * 50) + "t\u0361s s&#97;rin ΣARIN SARINΣ " + ("sarin " * 50)
    assert m.count([text]).tolist() == oracle.counts(["sarin", "t\u0361s"], [text],
                                                     normalize="robust") == [102]


def test_a_row_of_many_exact_words_keeps_every_span_in_place():
    # Hundreds of exact windows in one row (a page of references, accents, capital
    # sigmas): each spliced back where it belongs, spans pointing into the original.
    # (Their byte offsets were once found by re-encoding the row's prefix per window:
    # quadratic, a 1 MB page took a minute; benchmarks/bench_normalize.py --worst.)
    words = ["s&#97;rin", "sa\u0301rin", "ΣARIN", "sarin", "&amp;", "sarins", "x"]
    text = " ".join(words[i % len(words)] for i in range(700))
    patterns = ["sarin", "sárin"]
    m = Matcher(patterns, normalize="robust")
    got = m.spans([text])
    expect = oracle.byte_spans(patterns, [text], normalize="robust")
    assert list(zip(got.row.tolist(), got.start.tolist(), got.end.tolist(),
                    got.pattern_id.tolist(), strict=True)) == expect
    assert len(expect) == 400


def test_robust_options_survive_save_load_and_pickle(tmp_path):
    m = Matcher(["cobalt strike"], normalize="robust", join=True, inflect=False)
    loaded = Matcher.load(m.save(tmp_path / "m.fem"))
    for other in (loaded, pickle.loads(pickle.dumps(m)), pickle.loads(pickle.dumps(loaded))):
        assert other.options == m.options
        assert other.count(["CobaltStrike", "Cobalt-Strikes"]).tolist() == [1, 0]
    steps = Matcher(["x y"], normalize=("separators", "html"))
    assert steps.normalize == ("html", "separators")
    assert Matcher.load(steps.save(tmp_path / "s.fem")).normalize == ("html", "separators")


def test_a_file_of_the_previous_format_is_refused_with_advice(tmp_path):
    path = Matcher(["x"]).save(tmp_path / "m.fem")
    raw = bytearray(path.read_bytes())
    raw[8:12] = (file_format.FORMAT_VERSION - 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(MatcherStateError, match=r"\[E017\].*rebuild"):
        Matcher.load(path)


def test_bad_normalize_values_are_refused():
    for bad in ("nfc", ("nfkc", "stemming"), 3):
        with pytest.raises(UsageError, match=r"\[E007\]"):
            Matcher(["x"], normalize=bad)  # type: ignore[arg-type]
    assert MatcherOptions(True, True, "robust").inflect is True
    assert MatcherOptions(True, True, text_transform.STEPS).inflect is False


def test_every_dash_and_connector_lies_below_u20000():
    # text_transform._separator_run only looks there.
    assert not [cp for cp in range(0x20000, 0x110000)
                if unicodedata.category(chr(cp)) in ("Pd", "Pc")]


def test_kernel_transform_agrees_with_python_away_from_slow_characters():
    m = Matcher(["x"], normalize="robust")
    text = "Grüße, ΜΙΚΡΟ — naïve\u00a0café\u200b ＡＢＣ ℃ ™ ﬁ №"
    fed, start, end, edges = m._kernel.transform_row(np.frombuffer(text.encode(), np.uint8))
    want = text_transform.transform_with_map(text, text_transform.STEPS, True)
    assert fed.tobytes().lower() == want[0].tobytes()
    for got, expected in zip((start, end, edges), want[1:], strict=True):
        assert got.tolist() == expected.tolist()


def test_explain_shows_the_original_span_and_what_was_matched(tmp_path, capsys):
    (tmp_path / "hazard.txt").write_text("sarin\nCobalt Strike\n")
    config = tmp_path / "f.toml"
    config.write_text('drop_if = "hazard.count >= 1"\n[[blocklist]]\nname = "hazard"\n'
                      'files = ["hazard.txt"]\nnormalize = "robust"\n')
    assert main(["explain", "-c", str(config), "s&#97;rins and Cobalt\nStrike"]) == 0
    out = capsys.readouterr().out
    assert "REMOVE" in out
    assert "[0:10] 's&#97;rins' as 'sarins' = 'sarin'" in out
    assert "'Cobalt\\nStrike' as 'cobalt strike' = 'Cobalt Strike'" in out


def test_a_corrupt_entry_index_is_refused_before_the_kernel_sees_it():
    m = Matcher(["cobalt strike", "sarin"], normalize="robust", join=True)
    header, arrays = m._header, m._arrays
    for name, at, value in (("ent_pid", -1, 7), ("ent_start", -1, 9), ("outputs", -4, 5),
                            ("outputs", -1, 99)):
        bad = dict(arrays, **{name: arrays[name].copy()})
        bad[name][at] = value
        with pytest.raises(ValueError):
            file_format.validate(header, bad)
    with pytest.raises(ValueError, match="separator class"):
        file_format.validate(dict(header, sep_class=999), arrays)
