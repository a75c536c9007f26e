"""datatrove: the EngineFilter step in a real LocalPipelineExecutor pipeline, with
datatrove's stats and exclusion writer, deciding as ``engine.Filter`` does."""

import gzip
import json

import pyarrow as pa
import pytest

import engine
from tests.runkit import texts, write_lists

pytest.importorskip("datatrove", reason="install filter-engine[test]")
from datatrove.data import Document  # noqa: E402
from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter  # noqa: E402

from engine.integrations.datatrove import EngineFilter  # noqa: E402


def _read(folder):
    rows = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            rows += [json.loads(line) for line in f]
    return rows


def test_engine_filter_in_a_local_pipeline_matches_filter(tmp_path):
    spec = engine.FilterSpec.from_toml(write_lists(tmp_path))
    data = tmp_path / "in"
    data.mkdir()
    docs = []
    for i in range(2):
        part = [{"id": f"{i}-{j}", "text": t} for j, t in enumerate(texts(400, i)) if t]
        docs += part
        (data / f"p{i}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in part))
    LocalPipelineExecutor(pipeline=[
        JsonlReader(str(data)),
        EngineFilter(spec, exclusion_writer=JsonlWriter(str(tmp_path / "removed")),
                     batch_size=128),
        JsonlWriter(str(tmp_path / "kept")),
    ], tasks=2, workers=2, logging_dir=str(tmp_path / "logs")).run()
    direct = engine.Filter(spec).apply(pa.Table.from_pylist(docs))
    kept, removed = _read(tmp_path / "kept"), _read(tmp_path / "removed")
    assert sorted(d["id"] for d in kept) == sorted(direct.kept["id"].to_pylist())
    want = dict(zip(direct.removed["id"].to_pylist(), direct.removed["fe_reason"].to_pylist(),
                    strict=True))
    assert {d["id"]: d["metadata"]["filter_reason"] for d in removed} == want
    stats = json.loads((tmp_path / "logs" / "stats.json").read_text())
    step = next(s for s in stats if s["name"].endswith("filter-engine"))["stats"]
    assert step["total"] == len(docs) and step["forwarded"] == len(kept)
    assert step["dropped"] == len(removed)
    for reason, count in direct.by_reason.items():
        assert step[f"dropped_{reason}"] == count


def test_engine_filter_batch_drops_unencodable_text_with_a_reason(tmp_path):
    step = EngineFilter(engine.FilterSpec.from_toml(write_lists(tmp_path)), metadata=True)
    batch = [Document("a cat", "0"), Document("bad \ud800 text", "1"),
             Document("anthrax sarin", "2")]
    assert step.filter_batch(batch) == [True, (False, "invalid_utf8"), (False, "cbrn")]
    assert batch[2].metadata["fe_bl_cbrn"] == 2 and batch[0].metadata["fe_reason"] is None
    assert step.filter(Document("sarin and anthrax", "3")) == (False, "cbrn")
