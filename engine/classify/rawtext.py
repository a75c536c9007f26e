"""Raw-text models: ONNX graphs whose input is a string tensor (e.g. scikit-learn TF-IDF
pipelines converted with skl2onnx).

skl2onnx leaves ``StringNormalizer.locale`` unset and onnxruntime then asks for
``en_US.UTF-8``; session creation fails on hosts without that locale (minimal Debian
images ship only C, C.UTF-8 and POSIX). Graphs are fixed to ``C.UTF-8`` when exported
(``set_string_locale``) and, for graphs made elsewhere, in memory at load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa

from engine.classify.card import (
    CARD_FILE,
    MODEL_FILE,
    Card,
    card_head,
    check_io,
    section,
    sha256_of,
)

KIND = "raw-text"
LOCALE = "C.UTF-8"
BATCH_ROWS = 1024


def set_string_locale(model: onnx.ModelProto, locale: str = LOCALE) -> bool:
    """Set ``locale`` on every StringNormalizer that has none; True if anything changed."""
    changed = False
    for node in model.graph.node:
        if node.op_type != "StringNormalizer":
            continue
        if not any(a.name == "locale" for a in node.attribute):
            node.attribute.append(onnx.helper.make_attribute("locale", locale))
            changed = True
    return changed


class RawTextBackend:
    """Feed strings to the graph in batches; read the probability output."""

    def __init__(self, card: Card, model: onnx.ModelProto):
        spec = section(card, "raw_text")
        self.input = spec.get("input", "text")
        self.output = spec.get("output", "probabilities")
        check_io(card, model, {self.input: onnx.TensorProto.STRING}, self.output)
        dims = next(i for i in model.graph.input if i.name == self.input).type.tensor_type
        self.column = len(dims.shape.dim) == 2
        self.num_labels = len(card.labels)
        self.fixed_model = model.SerializeToString() if set_string_locale(model) else None

    def bind(self, session, threads: int) -> None:
        """Attach the session (only onnxruntime runs threads here; ``threads`` is onnxruntime's)."""
        self.session = session

    def probabilities(self, array: pa.Array) -> np.ndarray:
        """``float32[rows, k]``; null rows are scored as "" (the caller masks them)."""
        texts = array.fill_null("").to_numpy(zero_copy_only=False).astype(object)
        out = np.empty((len(texts), self.num_labels), np.float32)
        for begin in range(0, len(texts), BATCH_ROWS):
            batch = texts[begin : begin + BATCH_ROWS]
            feed = batch.reshape(-1, 1) if self.column else batch
            out[begin : begin + len(batch)] = self.session.run([self.output],
                                                               {self.input: feed})[0]
        return out


def save_rawtext_model(
    out_dir: str | Path,
    *,
    name: str,
    model: onnx.ModelProto,
    labels: list[str],
    score_label: str,
    threshold: float,
    input_name: str,
    output_name: str,
    extra: dict,
) -> Path:
    """Write ``model.onnx`` (StringNormalizer locale fixed) and its ``model.json`` card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_string_locale(model)
    onnx.save_model(model, str(out / MODEL_FILE))
    card = {
        **card_head(name, KIND, labels, score_label, threshold),
        "raw_text": {"input": input_name, "output": output_name},
        "model_sha256": sha256_of(out / MODEL_FILE),
        **extra,
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out
