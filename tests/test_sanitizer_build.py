"""The matcher tests pass under AddressSanitizer + UBSan (FILTER_ENGINE_SANITIZE=1).

Builds the matcher kernel with sanitizers in a scratch copy of the source tree (the
installed package is left alone) and runs the matcher tests against that build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COPY = ["setup.py", "pyproject.toml", "README.md", "src_cython", "engine", "tests", "models"]


def _libasan() -> str | None:
    gcc = shutil.which("gcc")
    if not gcc:
        return None
    path = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
def test_matcher_tests_pass_under_asan_and_ubsan(tmp_path):
    libasan = _libasan()
    if libasan is None:
        pytest.skip("gcc with libasan is not available")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns(
                "*.so", "__pycache__", "_models"))
        else:
            shutil.copy2(src, tmp_path / name)
    env = dict(os.environ, FILTER_ENGINE_SANITIZE="1", FILTER_ENGINE_KERNELS="_matcher")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    # The other kernels are not under test here; reuse the regular builds.
    for so in (ROOT / "engine").glob("_*.so"):
        if not so.name.startswith("_matcher"):
            shutil.copy2(so, tmp_path / "engine" / so.name)
    run_env = dict(os.environ, LD_PRELOAD=libasan, PYTHONPATH=str(tmp_path),
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    # An editable install's import hook would win over PYTHONPATH: drop it so that the
    # sanitizer build is the one under test, and say which file was imported.
    bootstrap = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
        "if 'editable' not in type(f).__name__.lower()]; "
        "import engine._matcher, pytest; print('KERNEL', engine._matcher.__file__); "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_matcher.py', 'tests/test_matcher_properties.py']))"
    )
    tests = subprocess.run([sys.executable, "-c", bootstrap], cwd=tmp_path, env=run_env,
                           capture_output=True, text=True)
    assert tests.returncode == 0, (tests.stdout + tests.stderr)[-4000:]
    assert f"KERNEL {tmp_path}" in tests.stdout
    assert "passed" in tests.stdout
