"""Transformer models (BERT/MiniLM/DeBERTa exported to ONNX) with a ``tokenizer.json``.

The card's ``transformer`` object gives the tokenizer file, ``max_chars`` (text is cut
*before* tokenizing: tokenizing a whole document only to truncate it wastes most of the
time), ``max_length`` (tokens per window, special tokens included) and ``token_budget``
(tokens per padded batch).

Long documents: with ``max_windows`` above 1, a document is scored as overlapping windows
of ``max_length`` tokens, each window sharing ``stride`` tokens with the one before (the
tokenizer's own overflow, special tokens added to every window), at most ``max_windows``
windows from the start of the (cut) text, and the window scores are reduced per label by
``reduce``: ``"max"`` (the default: a document is as bad as its worst passage) or
``"mean"``. ``max_windows = 1`` (the default) is plain truncation, and a document that
fits in one window scores the same whatever the settings.

A chunk of texts is scored in steps: consecutive texts whose cut lengths add up to
``step_chars`` characters (0, the default: 16 x ``token_budget``, about four full batches
of English) form one step. Within a step, windows are sorted by length, cut into batches
whose padded size stays within the budget, run, and written back in input order, so
padding waste is small and results do not depend on batch composition (except under int8
dynamic quantization, whose activation scales come from the whole batch tensor: there the
step and budget settings, like the caller's chunk size, choose the batches). The steps are
a pipeline: with ``prefetch`` on (the card's ``prefetch``: true, false, or unset for on
with CUDA and off on CPU; or the backend's ``prefetch`` attribute) and more than one
step, step k+1 is tokenized on one background
thread while the session runs step k (``tokenizers`` and onnxruntime both release the
GIL), so the session waits for the tokenizer only on the first step, or where tokenizing
a step takes longer than running one. The steps are the
same with prefetch on or off, so are the windows, batches and scores, bit for bit: only
the thread that tokenizes differs. The thread belongs to the backend, starts on first use
(again in a forked child), ends when the backend is garbage-collected, and is never
pickled (a ``ClassifierStage`` sends its config, not its model); an error raised while
tokenizing (a ``ModelError`` E037 for a text the tokenizer refuses) is re-raised in the
caller as it was raised. What it buys: the thread that feeds the session no longer
tokenizes (its CPU time falls by the tokenizing time), which shortens the wall clock
where a core is free for the tokenizer: a GPU host. On CPU, where each worker process
owns one core, there is no such core: measured on a busy core, prefetch cost 2-6 % with a
model as fast as the tokenizer and nothing measurable with MiniLM at 512 tokens, hence
off there unless the card asks (benchmarks/RESULTS.md). Each batch runs through onnxruntime's
IO binding: on CUDA the inputs are copied to the device once and the output is bound on
the device, so nothing round-trips through host buffers that ``session.run`` allocates.
fp16 for tensor cores is a property of the graph, not of this code: convert ``model.onnx``
offline (onnxconverter-common's ``float16.convert_float_to_float16(model,
keep_io_types=True)``, inputs stay int64 and the output float32) and ship that directory
for GPU use; it has not been measured here (no GPU on the reference host).

Windows around hits (a filter's ``windows = "around_hits"``, see ``engine.filter.spec``):
``probabilities_around`` scores only the windows centred on given byte spans of each text
(a blocklist's matches), so that a hazard term 20 KB into a document is scored without
scoring the 20 KB. Per text, ``max_chars`` characters around each span (half before, half
after, cut at whitespace, overlapping stretches joined) are tokenized with offsets and no
truncation; spans whose tokens fit in one window together share it; each window holds
``max_length`` tokens (special tokens included) centred on its spans and moved, not
shortened, at the edges of the tokenized text; the first ``max_windows`` windows in text
order are scored and reduced by ``reduce`` (``stride`` is not used). A text that fits in
one window and lies within ``max_chars / 2`` characters of its spans is scored exactly as
the plain path scores it; a text without spans is NaN. It runs through the same pipeline,
a text weighing ``max_chars`` characters per span (at most its length) in the steps.

``add_classification_head`` appends masked mean pooling + a linear layer + softmax/sigmoid
to an encoder whose output is ``last_hidden_state``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from functools import partial
from typing import Any, TypeVar

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
from onnx import TensorProto, helper, numpy_helper

from engine.classify.card import Card, check_io, choice_setting, integer_setting, section
from engine.errors import fail

KIND = "transformer"
TOKENIZER_FILE = "tokenizer.json"
OUTPUT = "probabilities"
DEFAULTS: dict[str, Any] = {"max_chars": 6000, "max_length": 512, "token_budget": 16384,
                            "token_type_ids": False, "max_windows": 1, "stride": 0,
                            "reduce": "max", "step_chars": 0, "prefetch": None}
REDUCE = ("max", "mean")
#: ``step_chars = 0``: this many characters per budget token (~4 characters a token).
STEP_CHARS_PER_BUDGET = 16
T = TypeVar("T")
#: Where a stretch of text around a hit may be cut without changing its tokens.
_SPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")


def transformer_spec(card: Card) -> dict[str, Any]:
    """The card's ``transformer`` object over ``DEFAULTS``, type-checked."""
    spec = {**DEFAULTS, **section(card, "transformer")}
    for key, minimum in (("max_chars", 1), ("max_length", 1), ("token_budget", 1),
                         ("max_windows", 1), ("stride", 0), ("step_chars", 0)):
        integer_setting(card, f"transformer.{key}", spec[key], minimum)
    if spec["prefetch"] is not None and not isinstance(spec["prefetch"], bool):
        raise card.fail(f"card transformer.prefetch is {spec['prefetch']!r}; it must be true, "
                        "false or null (on for device cuda)", "E033")
    choice_setting(card, "transformer.reduce", spec["reduce"], REDUCE)
    if spec["token_budget"] < spec["max_length"]:
        raise card.fail("card transformer.token_budget must be at least max_length", "E033")
    return spec


class TransformerBackend:
    """Tokenize (cut, truncate), batch by sorted length under a token budget, run; step by
    step, the next step tokenized on a background thread while this one runs.

    Attributes:
        prefetch: tokenize the next step on the backend's thread (the card's
            ``transformer.prefetch``; unset: on for CUDA, off for CPU); set it to compare
            both paths, which score the same.
        step_chars: characters of cut text per step.
    """

    fixed_model: bytes | None = None  # the graph runs as stored

    def __init__(self, card: Card, model: onnx.ModelProto):
        self.spec = transformer_spec(card)
        inputs = {"input_ids": TensorProto.INT64, "attention_mask": TensorProto.INT64}
        if self.spec["token_type_ids"]:
            inputs["token_type_ids"] = TensorProto.INT64
        check_io(card, model, inputs, OUTPUT)
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise fail("E005", feature="a transformer model", package="tokenizers",
                       install="'filter-engine[transformer]'") from err
        path = card.directory / self.spec.get("tokenizer_file", TOKENIZER_FILE)
        if not path.resolve().is_relative_to(card.directory.resolve()) or not path.is_file():
            raise card.fail(f"no tokenizer file {path.name} inside the directory", "E032")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise card.fail(f"{path.name} is not a readable tokenizer ({err})", "E037") from err
        tokenizer.no_padding()
        room = self.spec["max_length"] - tokenizer.num_special_tokens_to_add(is_pair=False)
        if self.spec["stride"] >= max(room, 1):  # the tokenizer panics rather than refuse
            raise card.fail(f"card transformer.stride={self.spec['stride']} must be below the "
                            f"{room} text tokens of a {self.spec['max_length']}-token window",
                            "E033")
        tokenizer.enable_truncation(self.spec["max_length"], stride=self.spec["stride"])
        self.tokenizer = tokenizer
        self.tokenizer_path = path
        self._whole: Any = None  # the same tokenizer without truncation, for hit windows
        probe = tokenizer.encode("a")
        text_at = [i for i, special in enumerate(probe.special_tokens_mask) if not special]
        self.prefix = probe.ids[: text_at[0]] if text_at else probe.ids
        self.suffix = probe.ids[text_at[-1] + 1 :] if text_at else []
        self.room = self.spec["max_length"] - len(self.prefix) - len(self.suffix)
        self.pad_id = int(self.spec.get("pad_id", tokenizer.token_to_id("[PAD]") or 0))
        self.num_labels = len(card.labels)
        self.card = card
        self.prefetch = False  # decided by ``bind``, once the device is known
        self.step_chars: int = (self.spec["step_chars"]
                                or STEP_CHARS_PER_BUDGET * self.spec["token_budget"])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def bind(self, session: ort.InferenceSession, threads: int) -> None:
        """Attach the session; ``threads > 1`` also lets the tokenizer use its pool."""
        self.session = session
        self.threads = threads
        self.device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        chosen = self.spec["prefetch"]
        self.prefetch = self.device == "cuda" if chosen is None else chosen

    def windows(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Token ids per window, and the index of the text each window belongs to.

        Text is cut to ``max_chars``, then tokenized into windows of ``max_length`` tokens
        overlapping by ``stride``; the first ``max_windows`` windows of each text are kept
        (every text has at least one, ``[CLS] [SEP]`` for ""), in text order.
        """
        cut = [t[: self.spec["max_chars"]] for t in texts]
        encodings = self._encode(self.tokenizer, cut, add_special_tokens=True)
        extra = self.spec["max_windows"] - 1
        ids, owner = [], []
        for row, encoding in enumerate(encodings):
            for window in [encoding, *(encoding.overflowing[:extra] if extra else ())]:
                ids.append(np.asarray(window.ids, np.int64))
                owner.append(row)
        return ids, np.asarray(owner, np.int64)

    def _encode(self, tokenizer: Any, texts: list[str], add_special_tokens: bool) -> list:
        """``tokenizer``'s encodings of ``texts``; a ``ModelError`` (E037) for a text it
        refuses (e.g. a word it cannot split when its vocabulary lacks the unknown token).
        With one thread, texts are encoded one by one: ``encode_batch`` runs on a
        process-wide Rust pool with a thread per core, which oversubscribes a host running
        one worker per core."""
        try:
            if self.threads == 1:
                return [tokenizer.encode(t, add_special_tokens=add_special_tokens)
                        for t in texts]
            return tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)
        except Exception as err:  # tokenizers raises a bare Exception
            raise self.card.fail(f"{self.tokenizer_path.name} cannot tokenize a text of this "
                                 f"chunk ({err}); fix the tokenizer file", "E037") from err

    def steps(self, weights: np.ndarray) -> list[tuple[int, int]]:
        """``[a, b)`` row ranges, in order, covering ``weights`` (characters per row): a
        step ends after the row where the running total passes a multiple of
        ``step_chars``. A function of the weights alone, whether prefetch is on or not."""
        if not len(weights):
            return []
        total = np.cumsum(weights, dtype=np.int64) // self.step_chars
        ends = np.flatnonzero(np.diff(np.r_[0, total]) > 0) + 1
        bounds = np.unique(np.r_[0, ends, len(weights)])
        return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

    def pipelined(self, jobs: Sequence[Callable[[], T]]) -> Generator[T, None, None]:
        """Each job's result, in order. With ``prefetch`` and more than one job, job k+1
        runs on the backend's thread while the caller works on job k's result; an error a
        job raised is raised here, as it was raised."""
        if not self.prefetch or len(jobs) < 2:
            yield from (job() for job in jobs)
            return
        pool = self._thread()
        ahead: Future[T] = pool.submit(jobs[0])
        try:
            for job in jobs[1:]:
                done = ahead.result()
                ahead = pool.submit(job)
                yield done
            yield ahead.result()
        finally:
            wait([ahead])  # a failed or abandoned call leaves nothing tokenizing behind

    def _thread(self) -> ThreadPoolExecutor:
        """The backend's one tokenizing thread, started on first use; a forked child
        inherits the executor but not its thread, so it starts its own."""
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="filter-engine-tokenize")
            self._pool_pid = os.getpid()
        return self._pool

    def batches(self, lengths: np.ndarray) -> Iterator[np.ndarray]:
        """Index arrays into ``lengths``: sorted by length, padded size within the budget."""
        order = np.argsort(lengths, kind="stable")
        budget = self.spec["token_budget"]
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end + 1 - start) * lengths[order[end]] <= budget:
                end += 1
            yield order[start:end]
            start = end

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One batch through IO binding: inputs placed on the session's device, the output
        bound there and copied back once."""
        binding = self.session.io_binding()
        for name, value in feed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, self.device))
        binding.bind_output(OUTPUT, self.device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def window_probabilities(self, ids: list[np.ndarray]) -> np.ndarray:
        """``float32[windows, k]``: every window scored, batched by sorted length."""
        lengths = np.array([max(len(x), 1) for x in ids], np.int64)
        out = np.empty((len(ids), self.num_labels), np.float32)
        for rows in self.batches(lengths):
            width = int(lengths[rows].max())
            input_ids = np.full((len(rows), width), self.pad_id, np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for r, row in enumerate(rows):
                input_ids[r, : len(ids[row])] = ids[row]
                mask[r, : len(ids[row])] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask}
            if self.spec["token_type_ids"]:
                feed["token_type_ids"] = np.zeros_like(input_ids)
            out[rows] = self.run(feed)
        return out

    def probabilities(self, array: pa.Array) -> np.ndarray:
        """``float32[rows, k]``; null rows are scored as "" (the caller masks them)."""
        texts = array.fill_null("").to_pylist()
        if not texts:
            return np.empty((0, self.num_labels), np.float32)
        cap = self.spec["max_chars"]
        steps = self.steps(np.array([min(len(t), cap) for t in texts], np.int64))
        scores, owner = self._score_steps(steps, [partial(self.windows, texts[a:b])
                                                  for a, b in steps])
        if len(owner) == len(texts):  # one window per text: nothing to reduce
            return scores
        return reduce_windows(scores, owner, self.spec["reduce"])

    def _score_steps(self, steps: list[tuple[int, int]],
                     jobs: Sequence[Callable[[], tuple[list[np.ndarray], np.ndarray]]]
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Window scores and owners (text indexes of the whole chunk) of every step: each
        job tokenizes one step's texts, pipelined; the session scores its windows."""
        scores, owners = [], []
        with closing(self.pipelined(jobs)) as tokenized:  # closed now, also on an error
            for (a, _), (ids, owner) in zip(steps, tokenized, strict=True):
                scores.append(self.window_probabilities(ids))
                owners.append(owner + a)
        return np.concatenate(scores), np.concatenate(owners)

    def hit_windows(self, texts: list[str], row: np.ndarray, start: np.ndarray,
                    end: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Token ids per window centred on the spans, and the text each belongs to.

        Args:
            texts: the texts.
            row, start, end: one span per entry: the index of its text and its UTF-8 byte
                offsets there (``Matcher.spans``), sorted by row then start.

        Returns:
            As ``windows``: texts without a span have no window.
        """
        half = self.spec["max_chars"] // 2
        pieces: list[tuple[int, int, int, np.ndarray, np.ndarray]] = []  # row, cut, spans
        bounds = np.searchsorted(row, np.arange(len(texts) + 1))
        for r in np.flatnonzero(np.diff(bounds)).tolist():
            text = texts[r]
            lo, hi = int(bounds[r]), int(bounds[r + 1])
            first, last = _char_offsets(text, start[lo:hi], end[lo:hi])
            order = np.argsort(first, kind="stable")
            first, last = first[order], last[order]
            begin = np.maximum(first - half, 0)
            stop = np.minimum(last + half, len(text))
            # a new stretch starts where a span's stretch does not overlap the ones before
            new = np.r_[True, begin[1:] > np.maximum.accumulate(stop)[:-1]]
            g_start = np.flatnonzero(new)
            g_stop = np.r_[g_start[1:], len(first)]
            # every stretch gives at least one window: those past the cap cannot count
            cap = self.spec["max_windows"]
            for g0, g1 in zip(g_start[:cap].tolist(), g_stop[:cap].tolist(), strict=True):
                a, b = int(begin[g0]), int(stop[g0:g1].max())
                a, b = _cut_at_spaces(text, a, b, int(first[g0]), int(last[g0:g1].max()))
                pieces.append((r, a, b, first[g0:g1], last[g0:g1]))
        stretches = [texts[r][a:b] for r, a, b, _, _ in pieces]
        encodings = self._encode(self._untruncated(), stretches, add_special_tokens=False)
        ids: list[np.ndarray] = []
        owner: list[int] = []
        kept = np.zeros(len(texts), np.int64)
        for (r, a, _, first, last), encoding in zip(pieces, encodings, strict=True):
            body = np.asarray(encoding.ids, np.int64)
            offsets = np.asarray(encoding.offsets, np.int64).reshape(-1, 2) + a
            t0 = np.searchsorted(offsets[:, 1], first, side="right")  # first token ending past
            t1 = np.maximum(np.searchsorted(offsets[:, 0], last, side="left"), t0)
            for w0, w1 in centred_windows(t0, t1, len(body), self.room):
                if kept[r] == self.spec["max_windows"]:
                    break
                ids.append(np.r_[self.prefix, body[w0:w1], self.suffix].astype(np.int64))
                owner.append(r)
                kept[r] += 1
        return ids, np.asarray(owner, np.int64)

    def probabilities_around(self, texts: list[str], row: np.ndarray, start: np.ndarray,
                             end: np.ndarray) -> np.ndarray:
        """``float32[len(texts), k]`` from the windows around the spans (``hit_windows``),
        reduced per text by ``reduce``; NaN for a text without a span."""
        out = np.full((len(texts), self.num_labels), np.nan, np.float32)
        bounds = np.searchsorted(row, np.arange(len(texts) + 1))
        spans = np.diff(bounds)
        weights = [min(len(t), int(s) * self.spec["max_chars"]) for t, s in zip(texts, spans,
                                                                               strict=True)]
        steps = [(a, b) for a, b in self.steps(np.array(weights, np.int64))
                 if bounds[b] > bounds[a]]  # a step without a span has no window
        self._untruncated()  # built here, not on the tokenizing thread
        jobs = [partial(self.hit_windows, texts[a:b], row[bounds[a]:bounds[b]] - a,
                        start[bounds[a]:bounds[b]], end[bounds[a]:bounds[b]])
                for a, b in steps]
        if jobs:
            scores, owner = self._score_steps(steps, jobs)
            out[np.unique(owner)] = reduce_windows(scores, owner, self.spec["reduce"])
        return out

    def _untruncated(self) -> Any:
        """The same tokenizer without truncation (for hit windows), loaded on first use."""
        if self._whole is None:
            from tokenizers import Tokenizer

            whole = Tokenizer.from_file(str(self.tokenizer_path))
            whole.no_padding()
            whole.no_truncation()
            self._whole = whole
        return self._whole


def centred_windows(t0: np.ndarray, t1: np.ndarray, n: int, room: int
                    ) -> Iterator[tuple[int, int]]:
    """``[w0, w1)`` token ranges of ``room`` tokens (fewer only when ``n`` is smaller), each
    centred on a run of consecutive spans (``[t0, t1)`` token ranges, in text order) that
    fit in it together, moved inside ``[0, n)`` at the edges."""
    g0, g1 = int(t0[0]), int(t1[0])
    for s0, s1 in [*zip(t0[1:].tolist(), t1[1:].tolist(), strict=True), (None, None)]:
        if s0 is not None and max(g1, s1) - g0 <= room:
            g1 = max(g1, s1)
            continue
        w0 = max(0, min((g0 + g1 - room) // 2, n - room))
        yield w0, min(n, w0 + room)
        if s0 is not None:
            g0, g1 = s0, s1


def _char_offsets(text: str, start: np.ndarray, end: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 byte offsets into ``text`` as character offsets (what the tokenizer reports)."""
    if text.isascii():
        return start.astype(np.int64), end.astype(np.int64)
    data = np.frombuffer(text.encode(), np.uint8)
    before = np.zeros(len(data) + 1, np.int64)
    np.cumsum((data & 0xC0) != 0x80, out=before[1:])  # characters start at non-continuation
    return before[start], before[end]


def _cut_at_spaces(text: str, a: int, b: int, first: int, last: int) -> tuple[int, int]:
    """``[a, b)`` narrowed to whitespace on each side that is cut (not a text edge), keeping
    ``[first, last)``: a word cut in half would tokenize differently from the whole text."""
    if a > 0 and (space := _SPACE.search(text, a, first)):
        a = space.start()
    if b < len(text) and (space := _LAST_SPACE.search(text, last, b)):
        b = space.start()
    return a, b


def reduce_windows(scores: np.ndarray, owner: np.ndarray, how: str) -> np.ndarray:
    """Per-label max or mean of window scores, one row per distinct text in ``owner``
    (non-decreasing: which text each row of ``scores`` belongs to)."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    if how == "max":
        return np.maximum.reduceat(scores, starts, axis=0)
    counts = np.diff(np.r_[starts, len(owner)]).astype(np.float32)
    return np.add.reduceat(scores, starts, axis=0) / counts[:, None]


def add_classification_head(encoder: onnx.ModelProto, hidden: str, weight: np.ndarray,
                            bias: np.ndarray, activation: str = "softmax") -> onnx.ModelProto:
    """Encoder + masked mean pooling + ``hidden @ weight + bias`` + softmax/sigmoid.

    Args:
        encoder: a graph with inputs ``input_ids``/``attention_mask`` and a
            ``[B, L, H]`` output named ``hidden``.
        weight: ``float32[H, k]``; bias ``float32[k]``.
        activation: ``"softmax"`` (exclusive labels), ``"sigmoid"`` (independent), or
            ``"identity"`` (raw outputs: e.g. pooled embeddings to fit a head on).

    Returns:
        A new model whose only output is ``probabilities`` ``[B, k]``.
    """
    model = onnx.ModelProto()
    model.CopyFrom(encoder)
    graph = model.graph
    node = helper.make_node
    graph.initializer.extend([
        numpy_helper.from_array(np.asarray(weight, np.float32), "head_weight"),
        numpy_helper.from_array(np.asarray(bias, np.float32), "head_bias"),
        numpy_helper.from_array(np.array([-1], np.int64), "head_last_axis"),
        numpy_helper.from_array(np.array([1], np.int64), "head_seq_axis"),
        numpy_helper.from_array(np.array(1e-9, np.float32), "head_eps"),
    ])
    graph.node.extend([
        node("Cast", ["attention_mask"], ["head_mask_f"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["head_mask_f", "head_last_axis"], ["head_mask_3d"]),
        node("Mul", [hidden, "head_mask_3d"], ["head_masked"]),
        node("ReduceSum", ["head_masked", "head_seq_axis"], ["head_sum"], keepdims=0),
        node("ReduceSum", ["head_mask_3d", "head_seq_axis"], ["head_count"], keepdims=0),
        node("Max", ["head_count", "head_eps"], ["head_count_safe"]),
        node("Div", ["head_sum", "head_count_safe"], ["head_pooled"]),
        node("MatMul", ["head_pooled", "head_weight"], ["head_logits_nb"]),
        node("Add", ["head_logits_nb", "head_bias"], ["head_logits"]),
        node("Softmax", ["head_logits"], [OUTPUT], axis=-1) if activation == "softmax"
        else node({"sigmoid": "Sigmoid", "identity": "Identity"}[activation],
                  ["head_logits"], [OUTPUT]),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT,
                                                      ["batch", weight.shape[1]]))
    return model
