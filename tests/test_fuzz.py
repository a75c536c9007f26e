"""A short, seeded run of every fuzz target (``tests/fuzz/targets.py``): random bytes and
structured cases that must end in a result or a coded engine error, never in a crash.

The long, coverage-guided runs use atheris: ``python -m tests.fuzz.run TARGET -max_total_time=600``.
"""

from __future__ import annotations

import pytest

from tests.fuzz.targets import TARGETS, check, seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_survives_seeded_inputs(name):
    for data in seeds(name, 300, seed=20261130):
        check(name, data)
