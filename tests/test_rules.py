"""The rule language: whitelist grammar, type checks, vectorised evaluation, no eval."""

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.filter.rules import MAX_NESTING, Rule, split_disjuncts

NAMES = {"cbrn.count": "number", "cbrn.distinct": "number", "tox.score": "number",
         "text.null": "bool"}
COLS = {
    "cbrn.count": np.array([0, 1, 3, 2]),
    "cbrn.distinct": np.array([0, 1, 2, 1]),
    "tox.score": np.array([np.nan, 0.9, 0.1, 0.85], np.float32),
    "text.null": np.array([True, False, False, False]),
}


def ev(source):
    return Rule(source, NAMES).evaluate(COLS, 4).tolist()


def test_rules_issue_example_evaluates_per_row():
    assert ev("cbrn.distinct >= 2 or (cbrn.count >= 1 and tox.score > 0.8)") == [
        False, True, True, True]


def test_rules_precedence_and_binds_tighter_than_or():
    assert ev("text.null or cbrn.count >= 3 and tox.score < 0.5") == [True, False, True, False]
    assert ev("(text.null or cbrn.count >= 3) and tox.score < 0.5") == [False, False, True, False]


def test_rules_nan_comparisons_are_false_both_ways():
    assert ev("tox.score > 0.5")[0] is False
    assert ev("tox.score <= 0.5")[0] is False
    assert ev("not tox.score > 0.5")[0] is True


def test_rules_arithmetic_and_unary_minus():
    assert ev("cbrn.count - cbrn.distinct * 2 >= -1") == [True, True, True, True]
    assert ev("cbrn.count / cbrn.distinct > 1") == [False, False, True, True]  # 0/0 is NaN


def test_rules_literals_broadcast_to_rows():
    assert Rule("true", NAMES).evaluate(COLS, 4).tolist() == [True] * 4
    assert Rule("1 > 2", NAMES).evaluate(COLS, 4).tolist() == [False] * 4


@pytest.mark.parametrize("source, code", [
    ("cbrn.count >", "E051"),
    ("__import__('os').system('x')", "E051"),
    ("cbrn.count >= 1; x", "E051"),
    ("cbrn.count.__class__ > 1", "E052"),
    ("open > 1", "E052"),
    ("1 < cbrn.count < 3", "E051"),
    ("cbrn.count", "E053"),
    ("cbrn.count and text.null", "E053"),
    ("text.null > 1", "E053"),
    ("", "E051"),
    ("(cbrn.count > 1", "E051"),
])
def test_rules_reject_what_the_grammar_does_not_allow(source, code):
    with pytest.raises(ConfigError) as info:
        Rule(source, NAMES, where="drop_if.x")
    assert f"[{code}]" in str(info.value)
    assert "drop_if.x" in str(info.value)


def test_rules_syntax_error_points_at_the_column():
    with pytest.raises(ConfigError) as info:
        Rule("cbrn.count >= = 2", NAMES)
    assert "column 15" in str(info.value)


def test_rules_unknown_name_lists_known_names():
    with pytest.raises(ConfigError, match="known names: cbrn.count"):
        Rule("cbrnn.count > 1", NAMES)


def test_rules_never_call_python_eval(monkeypatch):
    import builtins

    def boom(*a, **k):
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", boom)
    assert ev("cbrn.count >= 1") == [False, True, True, True]


def test_rules_split_top_level_or_into_named_alternatives():
    parts = split_disjuncts("cbrn.distinct >= 2 or (cbrn.count >= 1 and tox.score > 0.8)",
                            NAMES, "drop_if")
    assert [p.source for p in parts] == ["cbrn.distinct >= 2",
                                         "cbrn.count >= 1 and tox.score > 0.8"]
    nested = split_disjuncts("(text.null or cbrn.count > 2) and tox.score > 0", NAMES, "d")
    assert len(nested) == 1


def test_rules_evaluate_matches_a_python_reference_on_random_columns():
    rng = np.random.default_rng(0)
    cols = {"cbrn.count": rng.integers(0, 5, 500), "cbrn.distinct": rng.integers(0, 3, 500),
            "tox.score": rng.random(500), "text.null": rng.random(500) < 0.1}
    rule = Rule("cbrn.distinct >= 2 or (cbrn.count >= 1 and tox.score > 0.8) or text.null",
                NAMES)
    rows = zip(cols["cbrn.count"], cols["cbrn.distinct"], cols["tox.score"], cols["text.null"],
               strict=True)
    want = [(d >= 2) or (c >= 1 and s > 0.8) or bool(nl) for c, d, s, nl in rows]
    assert rule.evaluate(cols, 500).tolist() == want


# -- issue 8: deep and long rules -----------------------------------------------------------
def deep(levels: int) -> str:
    return "(" * levels + "cbrn.count >= 1" + ")" * levels


@pytest.mark.parametrize("source", [
    deep(MAX_NESTING),
    " or ".join(["cbrn.count >= 1"] * 5000),
    " and ".join(["cbrn.distinct < 9"] * 5000),
    " + ".join(["cbrn.count"] * 5000) + " >= 1",
    "not " * 5000 + "cbrn.count >= 1",
    "-" * 4999 + "cbrn.count <= -1",
    " or ".join(f"({deep(40)} and not text.null)" for _ in range(200)),
])
def test_issue_8_long_and_deep_rules_parse_and_evaluate(source):
    rule = Rule(source, NAMES, where="drop_if.generated")
    got = rule.evaluate(COLS, 4).tolist()
    if source.startswith("not "):
        assert got == ([False, True, True, True] if source.count("not") % 2 == 0
                       else [True, False, False, False])
    else:
        assert got == ([False, True, True, True] if "count" in source else [True] * 4)


def test_issue_8_rules_of_thousands_of_alternatives_are_fast():
    import time

    terms = " or ".join(f"cbrn.count >= {i}" for i in range(5000))
    start = time.perf_counter()
    rule = Rule(terms, NAMES, where="drop_if.generated")
    cols = {"cbrn.count": np.arange(8192) % 7}
    assert rule.evaluate(cols, 8192).all()
    parts = split_disjuncts(terms, NAMES, "drop_if")
    assert len(parts) == 5000 and parts[-1].source == "cbrn.count >= 4999"
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("source, column", [
    (deep(MAX_NESTING + 1), MAX_NESTING + 1),
    (deep(5000), MAX_NESTING + 1),
    ("text.null or " + deep(MAX_NESTING + 1), len("text.null or ") + MAX_NESTING + 1),
])
def test_issue_8_nesting_beyond_the_limit_is_a_coded_config_error(source, column):
    for build in (lambda: Rule(source, NAMES, where="drop_if.x"),
                  lambda: split_disjuncts(source, NAMES, "drop_if.x")):
        with pytest.raises(ConfigError) as info:
            build()
        message = str(info.value)
        assert message.startswith("[E058] rule drop_if.x:"), message
        assert f"more than {MAX_NESTING} levels" in message and f"column {column}" in message


def test_issue_8_deep_rule_in_a_config_exits_2_through_the_cli(tmp_path):
    from tests.runkit import cli, write_lists, write_shards

    write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=50)
    config = tmp_path / "deep.toml"
    config.write_text('[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n'
                      f'[drop_if]\ndeep = "{"(" * 5000}bl.count >= 1{")" * 5000}"\n')
    done = cli("run", tmp_path / "data", "-o", tmp_path / "out", "-c", config)
    assert done.returncode == 2, done.stderr
    assert "[E058]" in done.stderr and "Traceback" not in done.stderr
    many = tmp_path / "many.toml"
    many.write_text(f'drop_if = "{" or ".join(["bl.cbrn >= 9"] * 500)} or bl.count >= 1"\n'
                    '[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n')
    done = cli("run", tmp_path / "data", "-o", tmp_path / "out2", "-c", many)
    assert done.returncode == 0, done.stderr
