"""FilterSpec and its TOML form: parsing, path resolution, validation, fingerprint."""

import pytest

from engine.errors import ConfigError
from engine.filter.spec import FilterSpec
from tests.runkit import write_lists


def test_spec_parses_toml_and_resolves_paths_against_the_config(tmp_path):
    spec = FilterSpec.from_toml(write_lists(tmp_path))
    assert spec.text_column == "text" and spec.mode == "drop"
    (bl,) = spec.blocklists
    assert bl.name == "bl" and bl.categories == ["cbrn", "cyber"]
    assert all(f.startswith(str(tmp_path)) for f in bl.files)
    assert [r for r, _ in spec.drop_if] == ["null_text", "cbrn", "cyber"]
    assert "bl.cbrn" in spec.available() and "text.bytes" in spec.available()


def test_spec_single_drop_if_string_gives_one_reason_per_alternative(tmp_path):
    write_lists(tmp_path)
    config = tmp_path / "one.toml"
    config.write_text('drop_if = "bl.cbrn >= 2 or bl.cyber >= 1"\n'
                      '[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n')
    _, drops = FilterSpec.from_toml(config).compile_rules()
    assert [reason for reason, _ in drops] == ["bl.cbrn >= 2", "bl.cyber >= 1"]


@pytest.mark.parametrize("body, code", [
    ('mode = "delete"\n', "E055"),
    ('colour = "red"\n', "E057"),
    ('[[blocklist]]\nfiles = ["nope/*.txt"]\n', "E056"),
    ('[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n[drop_if]\nx = "bl.nope > 1"\n',
     "E052"),
    ('[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n[drop_if]\nx = "bl.count >"\n',
     "E051"),
    ("this is = = not toml", "E054"),
])
def test_spec_config_errors_have_codes(tmp_path, body, code):
    write_lists(tmp_path)
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(ConfigError) as info:
        FilterSpec.from_toml(config)
    assert f"[{code}]" in str(info.value)


def test_spec_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[E054\].*not found"):
        FilterSpec.from_toml(tmp_path / "missing.toml")


def test_spec_run_if_may_only_use_earlier_stages(tmp_path):
    write_lists(tmp_path)
    with pytest.raises(ConfigError, match="E052"):
        FilterSpec(drop_if=(("x", "spam.score > 0.5"),))


def test_spec_fingerprint_follows_blocklist_contents(tmp_path):
    config = write_lists(tmp_path)
    before = FilterSpec.from_toml(config).fingerprint()
    assert FilterSpec.from_toml(config).fingerprint() == before
    (tmp_path / "lists" / "cbrn.txt").write_text("anthrax\nsarin\nricin\n")
    assert FilterSpec.from_toml(config).fingerprint() != before


def test_spec_is_immutable_and_with_options_revalidates(tmp_path):
    spec = FilterSpec.from_toml(write_lists(tmp_path))
    assert spec.with_options(mode="annotate").mode == "annotate"
    with pytest.raises(ConfigError):
        spec.with_options(mode="nope")


def test_spec_categories_come_from_tsv_and_jsonl_rows(tmp_path):
    (tmp_path / "mixed.tsv").write_text("pattern\tcategory\nsarin\tchem\nexploit\t\n")
    (tmp_path / "more.jsonl").write_text('{"pattern": "anthrax", "category": "bio"}\n')
    config = tmp_path / "f.toml"
    config.write_text('[[blocklist]]\nname = "bl"\nfiles = ["mixed.tsv", "more.jsonl"]\n'
                      '[drop_if]\nx = "bl.chem + bl.bio + bl.mixed >= 1"\n')
    spec = FilterSpec.from_toml(config)
    assert spec.blocklists[0].categories == ["bio", "chem", "mixed"]


def test_spec_load_takes_none_default_a_spec_or_a_path(tmp_path, monkeypatch):
    from engine.defaults import models_dir

    shipped = FilterSpec.from_toml(models_dir() / "default-filter.toml")
    assert FilterSpec.load(None).to_dict() == shipped.to_dict()
    assert FilterSpec.load("default").to_dict() == shipped.to_dict()
    config = write_lists(tmp_path)
    spec = FilterSpec.from_toml(config)
    assert FilterSpec.load(spec) is spec
    assert FilterSpec.load(config).to_dict() == spec.to_dict()
    assert FilterSpec.load(str(config)).source == str(config)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text(config.read_text())
    assert FilterSpec.load("./default").blocklists[0].name == "bl"  # a file called default
    with pytest.raises(ConfigError, match=r"\[E054\]"):
        FilterSpec.load(tmp_path / "missing.toml")


# -- issue 8: every config field is type- and range-checked -----------------------------------
GOOD = {
    "": {"text_column": '"text"', "mode": '"drop"', "batch_rows": "100"},
    "blocklist": {"name": '"bl"', "files": '["lists/*.txt"]', "ignore_case": "true",
                  "whole_words": "true", "normalize": '"robust"', "join": "false",
                  "inflect": "true"},
    "classifier": {"name": '"spam"', "model": '"spam-hashed"', "device": '"cpu"',
                   "threads": "1", "run_if": '"bl.count >= 1"', "windows": '"all"',
                   "hits_from": None},
    "drop_if": {"x": '"bl.count >= 1 and spam.score > 0.5"'},
}
#: (table, key, a wrong value as TOML, what the message must say about it)
WRONG = [
    ("", "text_column", "5", "a non-empty string, got 5 (an integer)"),
    ("", "text_column", '""', "a non-empty string, got ''"),
    ("", "mode", "1", "one of 'drop', 'annotate', got 1 (an integer)"),
    ("", "mode", '"delete"', "one of 'drop', 'annotate', got 'delete'"),
    ("", "batch_rows", '"abc"', "an integer >= 1, got 'abc' (a string)"),
    ("", "batch_rows", "1.5", "an integer >= 1, got 1.5 (a float)"),
    ("", "batch_rows", "true", "an integer >= 1, got True (a boolean)"),
    ("", "batch_rows", "0", "an integer >= 1, got 0"),
    ("", "blocklist", "5", "an array of tables ([[blocklist]]), got 5 (an integer)"),
    ("", "blocklist", "[1]", "an array of tables ([[blocklist]]), got [1] (an array)"),
    ("", "classifier", '"spam"', "an array of tables ([[classifier]]), got 'spam'"),
    ("", "drop_if", "5", "a rule string or a [drop_if] table of reason = rule, got 5"),
    ("", "drop_if", '["bl.count > 1"]', "a rule string or a [drop_if] table"),
    ("drop_if", "x", "5", "drop_if.x must be a rule string, got 5 (an integer)"),
    ("blocklist", "name", "5", "[[blocklist]] #1: name must be a string, got 5"),
    ("blocklist", "files", "[1]", "[[blocklist]] 'bl': files must be a non-empty array of "
     "non-empty strings, got [1]"),
    ("blocklist", "files", '"lists/*.txt"', "files must be a non-empty array of non-empty "
     "strings, got 'lists/*.txt' (a string)"),
    ("blocklist", "files", "[]", "files must be a non-empty array"),
    ("blocklist", "files", '[""]', "files must be a non-empty array of non-empty strings"),
    ("blocklist", "ignore_case", '"false"', "ignore_case must be true or false, got 'false' "
     "(a string)"),
    ("blocklist", "whole_words", "1", "whole_words must be true or false, got 1"),
    ("blocklist", "normalize", "1",
     "normalize must be one of 'nfkc', 'robust', got 1 (an integer)"),
    ("blocklist", "normalize", '"nfc"', "normalize must be one of 'nfkc', 'robust', got 'nfc'"),
    ("blocklist", "join", '"yes"', "join must be true or false, got 'yes'"),
    ("blocklist", "inflect", "1", "inflect must be true or false, got 1"),
    ("classifier", "name", "5", "[[classifier]] #1: name must be a string, got 5"),
    ("classifier", "model", "5", "[[classifier]] 'spam': model must be a non-empty string, "
     "got 5"),
    ("classifier", "device", "1", "device must be one of 'cpu', 'cuda', got 1"),
    ("classifier", "device", '"tpu"', "device must be one of 'cpu', 'cuda', got 'tpu'"),
    ("classifier", "threads", '"2"', "threads must be an integer >= 1, got '2' (a string)"),
    ("classifier", "threads", "1.5", "threads must be an integer >= 1, got 1.5 (a float)"),
    ("classifier", "threads", "0", "threads must be an integer >= 1, got 0"),
    ("classifier", "windows", '"around"', "windows must be one of 'all', 'around_hits', got "
     "'around' (a string)"),
    ("classifier", "windows", "true", "windows must be one of 'all', 'around_hits', got True"),
    ("classifier", "hits_from", '""', "hits_from must be a non-empty string, got ''"),
    ("classifier", "hits_from", "5", "hits_from must be a non-empty string, got 5 (an integer)"),
    ("classifier", "run_if", "5", "run_if must be a rule string, got 5 (an integer)"),
    ("classifier", "run_if", "false", "run_if must be a rule string, got False (a boolean)"),
]


def config_text(changes: dict[tuple[str, str], str | None]) -> str:
    """The GOOD config with some values replaced (None: the key left out)."""
    lines = []
    for table, fields in GOOD.items():
        header = {"": "", "drop_if": "[drop_if]"}.get(table, f"[[{table}]]")
        lines += [header] if header else []
        for key, value in fields.items():
            value = changes.get((table, key), value)
            if value is not None:
                lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def write_config(tmp_path, changes):
    write_lists(tmp_path)
    config = tmp_path / "typed.toml"
    config.write_text(config_text(changes))
    return config


def test_issue_8_the_good_config_of_the_type_tests_loads(tmp_path):
    spec = FilterSpec.from_toml(write_config(tmp_path, {}))
    assert spec.batch_rows == 100 and spec.blocklists[0].normalize == "robust"
    assert spec.classifiers[0].run_if == "bl.count >= 1"


@pytest.mark.parametrize("table, key, value, says", WRONG,
                         ids=[f"{t or 'top'}.{k}={v}" for t, k, v, _ in WRONG])
def test_issue_8_config_field_of_the_wrong_type_is_a_coded_error(tmp_path, table, key, value,
                                                                 says):
    config = write_config(tmp_path, {(table, key): value})
    if table == "" and key in ("blocklist", "classifier", "drop_if"):  # a table's key
        config.write_text(f"{key} = {value}\n" + ("" if key == "drop_if"
                                                   else '[drop_if]\nx = "text.null"\n'))
    with pytest.raises(ConfigError) as info:
        FilterSpec.from_toml(config)
    message = str(info.value)
    assert message.startswith(f"[E055] {config}: "), message
    assert says in message, message


def test_issue_8_every_declared_field_has_a_wrong_type_case():
    from engine.filter import spec as spec_module

    declared = {(table, key.name) for table, keys in spec_module.CONFIG_KEYS.items()
                for key in keys}
    assert declared == {(t, k) for t, k, _, _ in WRONG if t != "drop_if"}
    from engine.classify.session import DEVICES

    (device,) = [k for k in spec_module.CONFIG_KEYS["classifier"] if k.name == "device"]
    assert device.choices == DEVICES


def test_issue_8_config_without_drop_if_says_what_is_missing(tmp_path):
    config = write_config(tmp_path, {})
    config.write_text(config_text({}).split("[drop_if]")[0])
    with pytest.raises(ConfigError) as info:
        FilterSpec.from_toml(config)
    message = str(info.value)
    assert message.startswith(f"[E055] {config}: no drop_if"), message
    assert 'drop_if = "' in message and "[drop_if]" in message


@pytest.mark.parametrize("changes, says", [
    ({"batch_rows": "abc"}, "batch_rows must be an integer >= 1, got 'abc' (a string)"),
    ({"batch_rows": 1.5}, "batch_rows must be an integer >= 1, got 1.5 (a float)"),
    ({"text_column": 5}, "text_column must be a non-empty string, got 5 (an integer)"),
    ({"mode": None}, "mode must be one of 'drop', 'annotate', got None"),
])
def test_issue_8_spec_built_in_python_checks_the_same_types(tmp_path, changes, says):
    spec = FilterSpec.from_toml(write_lists(tmp_path))
    with pytest.raises(ConfigError, match=r"^\[E055\] ") as info:
        spec.with_options(**changes)
    assert says in str(info.value) and str(spec.source) in str(info.value)


def test_issue_8_config_type_error_exits_2_through_the_cli(tmp_path):
    from tests.runkit import cli, write_shards

    config = write_config(tmp_path, {("", "batch_rows"): '"abc"'})
    write_shards(tmp_path, count=1, rows=20)
    done = cli("run", tmp_path / "data", "-o", tmp_path / "out", "-c", config)
    assert done.returncode == 2, done.stderr
    assert "[E055]" in done.stderr and "batch_rows must be an integer" in done.stderr
    assert "Traceback" not in done.stderr
