"""Raw-text models: ONNX graphs whose input is a string tensor (e.g. scikit-learn TF-IDF
pipelines converted with skl2onnx).

skl2onnx leaves ``StringNormalizer.locale`` unset and onnxruntime then asks for
``en_US.UTF-8``; session creation fails on hosts without that locale (minimal Debian
images ship only C, C.UTF-8 and POSIX). Graphs are fixed to ``C.UTF-8`` when exported
(``set_string_locale``) and, for graphs made elsewhere, in memory at load. The fixed graph
is handed to onnxruntime as bytes; ``session.open_session`` then makes the model directory
the base of its external data (by default onnxruntime would look in the current directory,
not the one ``card.check_external_data`` checked).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.compute as pc

from engine.classify.card import Card, check_io, section

KIND = "raw-text"
LOCALE = "C.UTF-8"
BATCH_ROWS = 1024
#: At most this many bytes of text per graph run (one longer text runs alone): a string
#: graph's tokenizer holds many times its input, so calls are sized by bytes, not rows only.
BATCH_BYTES = 4 << 20


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
        self.fixed_model: bytes | None = (model.SerializeToString()
                                          if set_string_locale(model) else None)

    def bind(self, session: ort.InferenceSession, threads: int) -> None:
        """Attach the session (only onnxruntime runs threads here; ``threads`` is onnxruntime's)."""
        self.session = session

    def probabilities(self, array: pa.Array) -> np.ndarray:
        """``float32[rows, k]``; null rows are scored as "" (the caller masks them)."""
        texts = array.fill_null("").to_numpy(zero_copy_only=False).astype(object)
        ends = np.cumsum(pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False),
                         dtype=np.int64)
        out = np.empty((len(texts), self.num_labels), np.float32)
        begin = 0
        while begin < len(texts):
            base = int(ends[begin - 1]) if begin else 0
            stop = int(np.searchsorted(ends, base + BATCH_BYTES, side="right"))
            stop = min(max(stop, begin + 1), begin + BATCH_ROWS, len(texts))
            batch = texts[begin:stop]
            feed = batch.reshape(-1, 1) if self.column else batch
            out[begin:stop] = self.session.run([self.output], {self.input: feed})[0]
            begin = stop
        return out
