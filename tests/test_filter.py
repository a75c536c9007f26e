"""engine.Filter on one batch/table: drop and annotate modes, reasons, unreadable rows."""

import pyarrow as pa
import pytest

from engine.errors import SchemaError
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from tests.runkit import REPO, write_lists

TEXTS = ["anthrax and sarin", None, "exploit payload ransomware", "nothing here", "sarin only",
         ""]


@pytest.fixture
def spec(tmp_path):
    return FilterSpec.from_toml(write_lists(tmp_path))


def batch(extra_bad: bool = False):
    values = [t.encode() if t is not None else None for t in TEXTS]
    if extra_bad:
        values.append(b"broken \xff utf8")
    text = pa.array(values, pa.binary()).view(pa.string())
    return pa.record_batch([pa.array(range(len(values))), text], names=["id", "text"])


def test_filter_drop_mode_splits_rows_with_reasons(spec):
    result = Filter(spec).apply(batch())
    assert result.kept.column_names == ["id", "text"]
    assert result.kept["id"].to_pylist() == [3, 4, 5]
    removed = result.removed.to_pydict()
    assert removed["id"] == [0, 1, 2]
    assert removed["fe_reason"] == ["cbrn", "null_text", "cyber"]
    # distinct terms per row, in blocklist (pattern id) order
    assert removed["fe_bl_terms"] == [["anthrax", "sarin"], [], ["exploit", "ransomware",
                                                                  "payload"]]
    assert removed["fe_bl_cbrn"] == [2, 0, 0]
    assert result.by_reason == {"cbrn": 1, "null_text": 1, "cyber": 1}
    assert result.rows == result.kept.num_rows + result.removed_rows + len(result.unreadable)


def test_filter_invalid_utf8_row_is_unreadable_not_kept_or_removed(spec):
    result = Filter(spec).apply(batch(extra_bad=True))
    assert result.unreadable == [(6, "invalid UTF-8 at byte 7")]
    assert 6 not in result.kept["id"].to_pylist() + result.removed["id"].to_pylist()
    assert result.rows == 7 == result.kept.num_rows + result.removed_rows + 1


def test_filter_annotate_mode_keeps_every_readable_row(spec):
    result = Filter(spec.with_options(mode="annotate")).apply(batch(extra_bad=True))
    assert result.removed is None
    table = result.kept.to_pydict()
    assert table["id"] == [0, 1, 2, 3, 4, 5]
    assert table["fe_keep"] == [False, False, False, True, True, True]
    assert table["fe_reason"] == ["cbrn", "null_text", "cyber", None, None, None]
    assert table["fe_bl_count"] == [2, 0, 3, 0, 1, 0]


def test_filter_table_and_batch_give_the_same_decisions(spec):
    b = batch()
    table = pa.Table.from_batches([b.slice(0, 2), b.slice(2)])
    f = Filter(spec)
    assert f.apply(table).removed.equals(f.apply(b).removed)
    assert f.apply(table).kept.equals(f.apply(b).kept)


def test_filter_large_string_and_dictionary_text(spec):
    b = batch()
    for kind in (pa.large_string(), pa.dictionary(pa.int32(), pa.string())):
        other = b.set_column(1, "text", b.column(1).cast(kind))
        assert Filter(spec).apply(other).by_reason == {"cbrn": 1, "null_text": 1, "cyber": 1}


def test_filter_missing_or_wrong_text_column_is_a_schema_error(spec):
    with pytest.raises(SchemaError, match=r"\[E024\] no column 'text'"):
        Filter(spec).apply(pa.record_batch({"body": ["x"]}))
    with pytest.raises(SchemaError, match=r"\[E021\] column 'text' is int64"):
        Filter(spec).apply(pa.record_batch({"text": [1, 2]}))


def test_filter_empty_batch(spec):
    empty = batch().slice(0, 0)
    result = Filter(spec).apply(empty)
    assert result.rows == 0 and result.kept.num_rows == 0 and result.removed.num_rows == 0


def test_filter_annotating_an_annotated_table_replaces_its_columns(spec):
    f = Filter(spec.with_options(mode="annotate"))
    once = f.apply(batch()).kept
    twice = f.apply(once).kept
    assert twice.column_names == once.column_names
    assert twice.equals(once)


def test_per_label_columns_of_a_multi_label_classifier(tmp_path):
    """Rules on ``name.<label>`` see that label's probability, ``name.score`` the card's."""
    import json
    import random

    import numpy as np

    from engine.classify.classifier import Classifier
    from engine.cli import main

    rng = random.Random(3)
    vocab = {"cooking": ["flour", "oven", "bake", "salt"], "sport": ["goal", "match", "team"],
             "weather": ["rain", "wind", "cloud", "sun"]}
    rows = [(label, " ".join(rng.choice(words) for _ in range(6)))
            for _ in range(150) for label, words in vocab.items()]
    data = tmp_path / "topics.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for y, t in rows))
    assert main(["train", str(data), "-o", str(tmp_path / "topic"),
                 "--score-label", "sport"]) == 0
    (tmp_path / "filter.toml").write_text(
        '[[classifier]]\nname = "topic"\nmodel = "topic"\n\n'
        '[drop_if]\nweather = "topic.weather > 0.5"\n')
    texts = ["rain and wind all day", "bake the flour", "the team won the match", None]
    result = Filter(FilterSpec.from_toml(tmp_path / "filter.toml")).apply(
        pa.table({"text": texts}))
    probs = Classifier.load(tmp_path / "topic").score(texts, all_labels=True)
    weather = np.nan_to_num(probs[:, 2]) > 0.5
    assert weather.tolist() == [True, False, False, False]
    assert result.removed["text"].to_pylist() == ["rain and wind all day"]


def test_every_stage_follows_the_stage_protocol_and_returns_its_fields(tmp_path):
    import pickle

    from engine.filter.stages import Stage, StageOutput
    from engine.io.arrow_buffers import check_text

    models = REPO / "models"
    config = tmp_path / "every-stage.toml"  # every kind of stage (the default has no models)
    config.write_text(f"""
[drop_if]
hazard = "hazard.weight >= 1.0"
spam = "spam.score > 0.95"
[[blocklist]]
name = "hazard"
files = ["{models}/blocklists/*.tsv"]
normalize = "robust"
[[classifier]]
name = "spam"
model = "{models}/spam-hashed"
[[classifier]]
name = "profanity"
model = "{models}/profanity"
run_if = "hazard.count >= 1"
""")
    f = Filter(FilterSpec.load(config)).load()
    assert [type(s).__name__ for s in f.stages] == [
        "TextStage", "BlocklistStage", "ClassifierStage", "ClassifierStage", "DecisionStage"]
    text = check_text(pa.array(TEXTS))
    columns: dict = {}
    for stage in f.stages:
        assert isinstance(stage, Stage)
        output = stage.run(text, columns)
        assert isinstance(output, StageOutput)
        assert set(output.columns) == set(stage.fields()), stage.name
        assert all(len(v) == len(TEXTS) for v in output.columns.values())
        columns.update(output.columns)
        # sent to workers as config: loaded state stays behind
        assert b"onnxruntime" not in pickle.dumps(stage) and len(pickle.dumps(stage)) < 20000
    assert columns["decision.keep"].dtype == bool


def test_filter_drives_stages_only_through_the_protocol(spec):
    """A stage that only implements ``Stage`` runs, annotates and counts like the others."""
    import numpy as np

    from engine.filter.stages import StageOutput

    class Longest:
        name = "longest"

        def fields(self):
            return {"longest.bytes": "number"}

        def load(self):
            pass

        def run(self, text, columns):
            return StageOutput({"longest.bytes": columns["text.bytes"] * 2})

        def annotate(self, output, rows):
            return {"fe_longest": pa.array(output.columns["longest.bytes"][rows])}

        def count(self, output, removed, counts):
            counts.by_category["longest.removed"] += len(removed)

    f = Filter(spec)
    f.stages.insert(-1, Longest())
    result = f.apply(batch())
    assert result.removed["fe_longest"].to_pylist() == [34, 0, 52]
    assert result.by_category["longest.removed"] == 3
    assert np.array_equal(result.kept["id"].to_numpy(), [3, 4, 5])
