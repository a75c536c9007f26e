"""The compact automaton: sparse deep states give the same matches as dense rows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine import Matcher, MatcherStateError
from engine.bench import corpus
from engine.match.patterns import PatternLimits

TEXTS = corpus.make_corpus(400_000).to_pylist() + [
    "Sarin is a nerve-agent; a  chemical\tweapon.", "ＳＡＲＩＮ and nerve_agents", None, ""]
_WORDS = [w for w in " ".join(TEXTS[:40]).split() if any(c.isalnum() for c in w)]
# Words and two-word phrases of the text itself, so that deep states are reached often.
PATTERNS = (corpus.make_patterns(2000) + ["nerve agent", "sarin", "chemical weapon"]
            + _WORDS[::5] + [" ".join(_WORDS[i:i + 2]) for i in range(0, len(_WORDS), 9)])
OPTIONS = [{}, {"whole_words": False}, {"ignore_case": False}, {"normalize": "robust"},
           {"normalize": "robust", "join": True}]


def _compact(options: dict, dense_bytes: int) -> Matcher:
    return Matcher(PATTERNS, limits=PatternLimits(dense_bytes=dense_bytes), **options)


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dense_bytes", [1, 64 << 10])
def test_compact_finds_what_the_dense_automaton_finds(options, dense_bytes):
    dense = Matcher(PATTERNS, **options)
    compact = _compact(options, dense_bytes)
    assert dense._header["n_dense"] == dense._header["n_states"]
    assert compact._header["n_dense"] < compact._header["n_states"] // 10
    assert compact.automaton_bytes < dense.automaton_bytes / 3
    a, b = dense.scan(TEXTS, with_spans=True), compact.scan(TEXTS, with_spans=True)
    for field in ("total", "distinct", "weight"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert np.array_equal(a.by_category, b.by_category)
    sa, sb = a.spans, b.spans
    assert (sa.row.tolist(), sa.start.tolist(), sa.end.tolist(), sa.pattern_id.tolist()) == (
        sb.row.tolist(), sb.start.tolist(), sb.end.tolist(), sb.pattern_id.tolist())
    assert int(a.total.sum()) > 1000


def test_compact_matcher_saves_loads_and_pickles(tmp_path):
    import pickle
    compact = _compact({"normalize": "robust"}, 1)
    loaded = Matcher.load(compact.save(tmp_path / "m.fem"))
    assert loaded._header["n_dense"] == 1
    expected = compact.count(TEXTS).tolist()
    assert loaded.count(TEXTS).tolist() == expected
    assert pickle.loads(pickle.dumps(compact)).count(TEXTS).tolist() == expected


def test_a_failure_link_that_points_forward_is_refused(tmp_path):
    """A sparse state whose failure is not an earlier state could loop forever."""
    m = Matcher(["sarin", "soman"], limits=PatternLimits(dense_bytes=1))
    raw = bytearray(m.save(tmp_path / "m.fem").read_bytes())
    sparse = np.asarray(m._arrays["sparse"])
    at = raw.index(sparse.tobytes())
    last = m._header["n_states"] - 1  # the deepest state, as a transition value
    value = m._header["stride"] + 2 * (last - 1) + 1
    raw[at + 4: at + 8] = value.to_bytes(4, "little")  # the first sparse state's failure
    (tmp_path / "loop.fem").write_bytes(bytes(raw))
    with pytest.raises(MatcherStateError, match=r"E018.*failure is not an earlier state"):
        Matcher.load(tmp_path / "loop.fem")


def test_every_flipped_sparse_word_is_caught_or_harmless(tmp_path):
    """Corrupting any sparse record or edge must give an error at load, never a crash
    or a hang at scan (one child process tries them all; it names the one it is on)."""
    m = Matcher(["sarin", "soman", "tabun", "nerve agent"], normalize="robust",
                limits=PatternLimits(dense_bytes=1))
    raw = m.save(tmp_path / "m.fem").read_bytes()
    n = 0
    for name in ("sparse", "edges"):
        words = np.asarray(m._arrays[name])
        at = raw.index(words.tobytes())
        for word in range(words.size):
            for value in (0xFFFF0001, int(words[word]) + 2, 1):
                bad = bytearray(raw)
                bad[at + 4 * word: at + 4 * word + 4] = value.to_bytes(4, "little")
                (tmp_path / f"bad{n}.fem").write_bytes(bytes(bad))
                n += 1
    script = (
        "import sys; from engine import Matcher, MatcherStateError\n"
        "refused = 0\n"
        "for i in range(int(sys.argv[2])):\n"
        " print(i, file=sys.stderr, flush=True)\n"
        " try:\n  m = Matcher.load(f'{sys.argv[1]}/bad{i}.fem')\n"
        " except MatcherStateError:\n  refused += 1; continue\n"
        " m.count(['sarin soman tabun nerve  agent ' * 50]); m.spans(['sarin tabun'])\n"
        "print(refused)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(n)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-300:]
    assert n // 3 < int(done.stdout) <= n
