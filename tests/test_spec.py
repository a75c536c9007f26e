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
