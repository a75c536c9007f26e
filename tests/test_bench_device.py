"""``filter-engine bench --device``: the transformer benchmark runs on CPU, and CUDA is
either used or refused with the provider it lacks, before any model is built."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest

from engine.cli import main

pytest.importorskip("tokenizers")
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(HAS_CUDA, reason="this host has onnxruntime's CUDA provider")
def test_cuda_without_the_provider_fails_fast_with_its_name(tmp_path, capsys):
    code = main(["bench", "--device", "cuda", "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code != 0
    assert "[E038]" in err and "CUDAExecutionProvider" in err and "filter-engine[gpu]" in err
    assert not (tmp_path / "w").exists()  # refused before building anything


def test_cpu_bench_counts_windows_and_documents(tmp_path, capsys):
    code = main(["bench", "--device", "cpu", "--docs", "6", "--lengths", "64,128",
                 "--max-windows", "3", "--workdir", str(tmp_path), "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["max_length"] for r in results] == [64, 128]
    for r in results:
        assert r["docs"] == 6 and 6 < r["windows"] <= 18  # ~3 KB documents need several
        assert r["docs_s"] > 0 and r["windows_s"] >= r["docs_s"] and r["gpu_busy"] is None
    assert results[0]["windows"] >= results[1]["windows"]
