"""Training, fastText conversion and evaluation are library calls; the CLI only parses
arguments. The library and the command write the same files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine import Classifier, UsageError
from engine.cli import main
from engine.defaults import models_dir
from engine.train.datasets import sms_spam_collection
from engine.train.evaluate import evaluate_model
from engine.train.trainer import TrainConfig, train_model


@pytest.fixture(scope="module")
def sms_file(tmp_path_factory):
    texts, labels = sms_spam_collection()
    path = tmp_path_factory.mktemp("api") / "sms.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                            for t, y in zip(texts[:1200], labels[:1200], strict=True)))
    return path


def test_train_model_writes_what_the_command_writes(sms_file, tmp_path):
    config = TrainConfig(epochs=2, bucket=4096, seed=3)
    result = train_model([sms_file], tmp_path / "lib" / "m", score_label="spam",
                         config=config, licence="CC-BY-4.0", data_source="SMS")
    assert result.directory == tmp_path / "lib" / "m"
    assert (result.labels, result.score_label) == (["ham", "spam"], "spam")
    assert (result.train_rows, result.valid_rows) == (1200, 240)
    assert result.validation == "held-out split"
    clf = Classifier.load(result.directory)
    assert clf.card["quality"]["held_out"] == result.quality
    provenance = clf.card["provenance"]
    assert provenance["hyperparameters"]["seed"] == 3
    assert provenance["data"][0]["file"] == "sms.jsonl"
    assert len(provenance["data"][0]["sha256"]) == 64
    assert clf.card["licence"] == "CC-BY-4.0"

    argv = provenance["command"].split()[1:]  # the recorded command, run for real
    argv[argv.index("sms.jsonl")] = str(sms_file)
    argv[argv.index("-o") + 1] = str(tmp_path / "cli" / "m")
    assert main([*argv, "--licence", "CC-BY-4.0", "--data-source", "SMS"]) == 0
    for name in ("model.json", "model.onnx", "vocab.txt"):
        assert ((tmp_path / "cli" / "m" / name).read_bytes()
                == (tmp_path / "lib" / "m" / name).read_bytes()), name


def test_train_model_refuses_bad_settings(sms_file, tmp_path):
    with pytest.raises(UsageError, match=r"\[E001\] --valid-fraction"):
        train_model([sms_file], tmp_path / "m", valid_fraction=1.0)
    with pytest.raises(UsageError, match=r"\[E001\] --score-label"):
        train_model([sms_file], tmp_path / "m", score_label="eggs")
    for setting in ("dim", "epochs", "batch_size", "lr"):  # dim 0 divided by zero
        flag = setting.replace("_", "-")
        with pytest.raises(UsageError, match=rf"\[E001\] --{flag}: 0 must be above 0"):
            train_model([sms_file], tmp_path / "m", config=TrainConfig(**{setting: 0}))
    assert not (tmp_path / "m").exists()


def test_convert_fasttext_is_a_library_call(sms_file, tmp_path):
    from engine.train.fasttext import TOLERANCE, convert_fasttext
    from tests.test_featurize import train_fasttext

    texts, labels = sms_spam_collection()
    ft_data = tmp_path / "ft.txt"
    ft_data.write_text("".join(f"__label__{y} {t}\n"
                               for t, y in zip(texts[:800], labels[:800], strict=True)))
    model = train_fasttext(ft_data, dim=8, epoch=3, wordNgrams=2, bucket=20_000, lr=0.1)
    model.save_model(str(tmp_path / "m.bin"))
    sample = tmp_path / "sample.txt"
    sample.write_text("\n".join(texts[800:900]) + "\n")
    result = convert_fasttext(tmp_path / "m.bin", tmp_path / "out", check_texts=sample,
                              licence="MIT")
    assert result.directory == tmp_path / "out"
    assert (result.labels, result.activation, result.buckets) == (["ham", "spam"], "binary",
                                                                   20_000)
    assert result.agrees and result.agreement["documents"] == 100
    assert result.agreement["max_abs_prob_diff"] <= TOLERANCE
    card = Classifier.load(result.directory).card
    assert card["quality"]["agreement_with_fasttext"] == result.agreement
    assert card["licence"] == "MIT" and card["name"] == "m"
    assert card["provenance"]["command"] == (
        "filter-engine convert-fasttext m.bin out --threshold 0.5 --check sample.txt")
    assert card["provenance"]["data"][0]["file"] == "m.bin"
    assert card["provenance"]["fasttext_args"]["bucket"] == 20_000


def test_evaluate_model_reports_what_the_command_prints(tmp_path, sms_file):
    evaluation = evaluate_model(models_dir() / "spam-hashed", [sms_file])
    figures = evaluation.figures
    assert (figures["model"], figures["n"]) == ("spam-hashed", 1200)
    assert figures["positives"] == int(evaluation.positive.sum())
    assert evaluation.scores.shape == (1200,) and evaluation.scores.dtype == np.float64
    assert main(["eval", str(models_dir() / "spam-hashed"), str(sms_file),
                 "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text()) == figures
    relabeled = tmp_path / "relabeled.jsonl"
    relabeled.write_text(json.dumps({"text": "hi", "label": "eggs"}) + "\n")
    with pytest.raises(UsageError, match=r"\[E001\] --label-column.*'eggs'"):
        evaluate_model(models_dir() / "spam-hashed", [relabeled])


def test_command_modules_stay_light():
    """`filter-engine --help` imports these modules: no numpy, pyarrow, onnx, onnxruntime."""
    code = ("import sys, engine.commands.train, engine.commands.eval, "
            "engine.commands.convert_fasttext\n"
            "print(sorted({'numpy', 'pyarrow', 'onnx', 'onnxruntime'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
