"""The whole unit suite passes under AddressSanitizer + UBSan (FILTER_ENGINE_SANITIZE=1).

Builds both kernels with sanitizers in a scratch copy of the source tree (the installed
package is left alone) and runs every other test against that build: the kernels' own
tests, the fuzz targets' seeded inputs and the bad-input and fault tests of whole runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COPY = ["setup.py", "pyproject.toml", "README.md", "src_cython", "engine", "tests", "models",
        "examples"]


def _gcc_lib(name: str) -> str | None:
    gcc = shutil.which("gcc")
    if not gcc:
        return None
    path = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
def test_unit_suite_passes_under_asan_and_ubsan(tmp_path):
    libasan, libstdcxx = _gcc_lib("libasan.so"), _gcc_lib("libstdc++.so")
    if libasan is None or libstdcxx is None:
        pytest.skip("gcc with libasan is not available")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns(
                "*.so", "__pycache__", "_models"))
        else:
            shutil.copy2(src, tmp_path / name)
    env = dict(os.environ, FILTER_ENGINE_SANITIZE="1")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    # libstdc++ is preloaded too: ASan's __cxa_throw interceptor needs it present at start,
    # or the first C++ exception in pyarrow or onnxruntime aborts the process.
    run_env = dict(os.environ, LD_PRELOAD=f"{libasan} {libstdcxx}", PYTHONPATH=str(tmp_path),
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    # The Ray cluster suite and the Slurm job are left out: Ray's and Slurm's own binaries
    # under ASan's preload are not what this checks.
    # An editable install's import hook would win over PYTHONPATH: drop it so that the
    # sanitizer build is the one under test, and say which file was imported.
    bootstrap = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
        "if 'editable' not in type(f).__name__.lower()]; "
        "import engine._matcher, pytest; print('KERNEL', engine._matcher.__file__); "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests', "
        "'--deselect', 'tests/test_sanitizer_build.py', '--deselect', "
        "'tests/test_ray.py::test_ray_cluster_suite_in_a_loopback_namespace', "
        "'--ignore', 'tests/test_integrations_datatrove_slurm.py']))"
    )
    tests = subprocess.run([sys.executable, "-c", bootstrap], cwd=tmp_path, env=run_env,
                           capture_output=True, text=True)
    assert tests.returncode == 0, (tests.stdout + tests.stderr)[-4000:]
    assert f"KERNEL {tmp_path}" in tests.stdout
    assert "passed" in tests.stdout
