"""polars and duckdb hand their data over through the Arrow C stream interface (polars as
``string_view``); the filter takes it as it comes and decides as on plain strings."""

import pyarrow as pa
import pytest

import engine
from engine.integrations.arrow_stream import filter_arrow, filter_batches, record_batches
from tests.runkit import texts, write_lists

pl = pytest.importorskip("polars", reason="install filter-engine[test]")
duckdb = pytest.importorskip("duckdb", reason="install filter-engine[test]")


@pytest.fixture
def spec(tmp_path):
    return engine.FilterSpec.from_toml(write_lists(tmp_path))


def _table(rows=900):
    return pa.table({"id": list(range(rows)), "text": texts(rows, 5)})


def test_polars_string_view_stream_gives_the_same_split_as_plain_strings(spec):
    table = _table()
    df = pl.from_arrow(table)
    assert next(record_batches(df)).schema.field("text").type == pa.string_view()
    split = filter_arrow(df, spec)
    direct = engine.Filter(spec).apply(table)
    assert split.kept["id"].to_pylist() == direct.kept["id"].to_pylist()
    assert split.removed["fe_reason"].to_pylist() == direct.removed["fe_reason"].to_pylist()
    assert split.kept.num_rows + split.removed.num_rows == split.rows == table.num_rows
    back = pl.from_arrow(split.kept)
    assert back["text"].to_list() == direct.kept["text"].to_pylist()


def test_polars_lazy_query_streams_in_batches(spec):
    lazy = pl.from_arrow(_table()).lazy().filter(pl.col("id") % 2 == 0)
    results = list(filter_batches(lazy.collect(), spec))
    assert sum(r.rows for r in results) == 450


def test_duckdb_relation_filtered_and_queried_back(spec):
    con = duckdb.connect()
    source = _table()  # noqa: F841 (read by duckdb's replacement scan)
    rel = con.sql("select id, text from source where id < 600")
    split = filter_arrow(rel, spec)
    direct = engine.Filter(spec).apply(_table().slice(0, 600))
    assert split.kept["id"].to_pylist() == direct.kept["id"].to_pylist()
    kept = split.kept  # noqa: F841
    assert con.execute("select count(*) from kept").fetchone()[0] == direct.kept.num_rows


def test_empty_source_keeps_its_schema(spec):
    split = filter_arrow(pl.DataFrame({"id": [], "text": []}, schema={"id": pl.Int64,
                                                                     "text": pl.String}), spec)
    assert split.rows == 0 and split.kept.column_names == ["id", "text"]


def test_not_an_arrow_source_is_refused(spec):
    with pytest.raises(TypeError, match="not an Arrow source"):
        filter_arrow([1, 2], spec)
