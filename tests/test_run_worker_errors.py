"""Errors raised inside worker processes reach the parent as the same class with the same
code: a filter that cannot load stops the run with that error and its exit code, and a
shard that raised is reported with a code."""

from __future__ import annotations

import json
import shutil

import pytest

from engine import MatcherStateError
from engine.defaults import models_dir
from engine.execution.job import JobOptions
from engine.execution.supervisor import Supervisor
from engine.execution.worker import WorkerSetup
from engine.filter.spec import FilterSpec
from engine.io.shards import discover
from tests.runkit import cli, write_lists, write_shards


def test_worker_that_cannot_load_a_model_stops_the_run_with_the_model_error(tmp_path):
    model = tmp_path / "spam"
    shutil.copytree(models_dir() / "spam-hashed", model)
    (model / "model.onnx").write_bytes(b"not an onnx graph")  # the card still reads fine
    config = tmp_path / "filter.toml"
    config.write_text('[[classifier]]\nname = "spam"\nmodel = "spam"\n\n'
                      '[drop_if]\nspam = "spam.score > 0.5"\n')
    write_shards(tmp_path, count=1, rows=50)
    proc = cli("run", tmp_path / "data", "-o", tmp_path / "out", "-c", config,
               "--workers", "1", "--progress", "none")
    assert proc.returncode == 2, proc.stderr
    assert f"filter-engine: error: [E034] model dir '{model}'" in proc.stderr
    assert "E032" not in proc.stderr


def test_worker_that_cannot_map_a_matcher_raises_the_matcher_error_in_the_parent(tmp_path):
    spec = FilterSpec.from_toml(write_lists(tmp_path))
    (path,) = write_shards(tmp_path, count=1, rows=50)
    garbage = tmp_path / "bl.matcher"
    garbage.write_bytes(b"\0" * 4096)
    setup = WorkerSetup(spec, {"bl": str(garbage)}, str(tmp_path / "out"),
                        spec.fingerprint(), JobOptions())
    with pytest.raises(MatcherStateError, match=rf"^\[E016\] {garbage}: .*bad magic") as info:
        Supervisor(1, setup).run(discover(str(path)))
    assert info.value.code == "E016"


def test_unexpected_exception_while_loading_is_an_engine_error_with_a_code(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=50)
    proc = cli("run", tmp_path / "data", "-o", tmp_path / "out", "-c", config,
               "--workers", "1", "--progress", "none", ENGINE_TESTING=1,
               ENGINE_FAULT="raise:load")
    assert proc.returncode == 1, proc.stderr
    assert ("filter-engine: error: [E066] a worker cannot load the filter: RuntimeError: "
            "injected fault at load") in proc.stderr


def test_shard_that_raised_is_reported_with_a_code(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=50, sub=False)
    out = tmp_path / "out"
    proc = cli("run", tmp_path / "data", "-o", out, "-c", config, "--workers", "1",
               "--max-retries", "0", "--progress", "none", ENGINE_TESTING=1,
               ENGINE_FAULT="raise:batch:s1")
    assert proc.returncode == 1, proc.stderr
    (failed,) = json.loads((out / "report.json").read_text())["failed"]
    assert failed["shard"] == "s1.parquet"
    (error,) = failed["errors"]
    assert error.startswith("[E067] shard '") and "s1.parquet': the worker raised " \
        "RuntimeError: injected fault at batch s1.parquet" in error
