"""Fixtures shared by test files."""

from __future__ import annotations

import pytest

from engine import _matcher


@pytest.fixture(params=["scalar", "sse41", "avx2"])
def level(request):
    """Each SIMD level of the kernel in turn (the prefilter and the row-status pass),
    skipped where this CPU or build has none; restored afterwards."""
    if request.param not in _matcher.simd_levels():
        pytest.skip(f"this CPU or build does not run the {request.param} level")
    previous = _matcher.set_simd_level(request.param)
    yield request.param
    _matcher.set_simd_level(previous)
