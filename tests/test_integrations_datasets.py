"""Hugging Face ``datasets``: one call filters a Dataset, with the same decisions as
``engine.Filter`` on the same rows, in one process or several, and no row lost."""

import numpy as np
import pyarrow as pa
import pytest

import engine
from engine.integrations.hf_datasets import filter_dataset
from tests.runkit import texts, write_lists

datasets = pytest.importorskip("datasets", reason="install filter-engine[test]")


@pytest.fixture
def spec(tmp_path):
    return engine.FilterSpec.from_toml(write_lists(tmp_path))


def _dataset(rows=1200, seed=3):
    return datasets.Dataset.from_dict({"id": list(range(rows)), "text": texts(rows, seed)})


@pytest.mark.parametrize("num_proc", [None, 2])
def test_filter_dataset_matches_filter_on_the_same_rows(spec, num_proc):
    ds = _dataset()
    split = filter_dataset(ds, spec, batch_size=250, num_proc=num_proc)
    direct = engine.Filter(spec).apply(ds.data.table)
    assert list(split.kept["id"]) == direct.kept["id"].to_pylist()
    assert split.kept.column_names == ["id", "text"]
    assert list(split.removed["id"]) == direct.removed["id"].to_pylist()
    assert list(split.removed["fe_reason"]) == direct.removed["fe_reason"].to_pylist()
    assert len(split.kept) + len(split.removed) == len(ds)
    assert split.mask.dtype == bool and int(split.mask.sum()) == len(split.kept)
    assert np.array_equal(np.flatnonzero(split.mask), list(split.kept["id"]))
    assert list(split.annotated["fe_keep"]) == split.mask.tolist()
    assert 0 < len(split.removed) < len(ds)


def test_filter_dataset_keeps_the_users_format(spec):
    split = filter_dataset(_dataset(50).with_format("numpy"), spec)
    assert split.annotated.format["type"] == "numpy"
    assert isinstance(split.kept[:5]["id"], np.ndarray)


def test_filter_dataset_invalid_utf8_row_is_removed_not_lost(spec):
    """A Dataset built on Arrow data whose text is not UTF-8 (as a Parquet file can hold):
    the row comes out in ``removed`` with reason invalid_utf8; the map drops nothing."""
    raw = pa.array([b"anthrax and sarin", b"\xff\xfe broken", b"a garden"], pa.binary())
    table = pa.table({"id": [0, 1, 2], "text": raw.view(pa.string())})
    split = filter_dataset(datasets.Dataset(table), spec)
    assert split.mask.tolist() == [False, False, True]
    assert split.removed.with_format("arrow")["fe_reason"].to_pylist() == [
        "cbrn", "invalid_utf8"]
    assert list(split.kept["id"]) == [2]


def test_filter_dataset_too_long_is_removed_unscanned(spec):
    ds = datasets.Dataset.from_dict({"text": ["x " * 100, "a cat"]})
    split = filter_dataset(ds, spec, max_doc_bytes=50)
    assert list(split.removed["fe_reason"]) == ["too_long"]
    assert list(split.kept["text"]) == ["a cat"]


def test_filter_dataset_on_a_shuffled_selection_keeps_rows_aligned(spec):
    """A shuffled or selected Dataset reads through an indices mapping; the mask and the
    split follow the dataset's row order, not the table's."""
    ds = _dataset(300).shuffle(seed=0).select(range(200))
    split = filter_dataset(ds, spec, batch_size=64)
    direct = engine.Filter(spec).apply(ds.with_format("arrow")[:])
    assert list(split.kept["id"]) == direct.kept["id"].to_pylist()
    assert split.mask.tolist() == [i in set(direct.kept["id"].to_pylist()) for i in ds["id"]]
