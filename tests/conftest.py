"""Fixtures shared by test files."""

from __future__ import annotations

import pytest

from engine import _matcher


def _at_level(name: str):
    """Run under the kernel's vector level ``name`` (``"off"``: none), skipped where this
    CPU or build has no such level; the previous one restored afterwards."""
    if name != "off" and name not in _matcher.simd_levels():
        pytest.skip(f"this CPU or build does not run the {name} level")
    previous = _matcher.set_simd_level(name)
    yield name
    _matcher.set_simd_level(previous)


@pytest.fixture(params=["scalar", "sse41", "avx2"])
def level(request):
    """Each SIMD level of the kernel in turn (the prefilter and the row-status pass)."""
    yield from _at_level(request.param)


@pytest.fixture(params=["off", "avx2"])
def scan_level(request):
    """The interleaved scan with no vector level and with the best one this suite
    tests (the level picks the prefilter and the row-status pass around it)."""
    yield from _at_level(request.param)
