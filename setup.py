"""Build the private Cython kernels (src_cython/_*.pyx -> engine._*).

Compiler directives are set here, once, for every kernel. Two environment switches
make debug builds:

* ``FILTER_ENGINE_CHECKS=1`` turns bounds checks, wraparound and None checks back on.
* ``FILTER_ENGINE_SANITIZE=1`` also compiles and links with AddressSanitizer and
  UBSan (run the tests with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).

``FILTER_ENGINE_KERNELS=_matcher,_featurize`` builds only the named kernels (development).

Shipped defaults under ``models/`` are copied into the package (``engine/_models``)
so that a non-editable install runs out of the box; ``MANIFEST.in`` puts them (and the
kernel sources) in the sdist so that a wheel built from it carries them too.
"""

import os
import shutil
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
CHECKS = os.environ.get("FILTER_ENGINE_CHECKS") == "1"
SANITIZE = os.environ.get("FILTER_ENGINE_SANITIZE") == "1"

DIRECTIVES = {
    "language_level": "3",
    "boundscheck": CHECKS or SANITIZE,
    "wraparound": CHECKS or SANITIZE,
    "initializedcheck": CHECKS or SANITIZE,
    "nonecheck": CHECKS or SANITIZE,
    "cdivision": True,
    "embedsignature": True,
}

compile_args = ["-O3", "-std=c11"]
link_args = []
if SANITIZE:
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
    compile_args = ["-std=c11", *san]
    link_args = san


def kernel_extensions():
    """One extension per src_cython/_*.pyx, named engine._<stem>."""
    only = {k for k in os.environ.get("FILTER_ENGINE_KERNELS", "").split(",") if k}
    return [
        Extension(
            f"engine.{pyx.stem}",
            [str(pyx.relative_to(ROOT))],
            include_dirs=[numpy.get_include(), "src_cython"],
            # C headers the kernel includes (teddy.h: the SIMD prefilter, whose vector
            # functions carry their own target attributes; the module stays baseline).
            depends=[str(h.relative_to(ROOT)) for h in sorted((ROOT / "src_cython").glob("*.h"))],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for pyx in sorted((ROOT / "src_cython").glob("_*.pyx"))
        if not only or pyx.stem in only
    ]


class build_py_with_models(build_py):
    """Copy models/ into the built package so installed wheels carry the defaults."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "engine" / "_models"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / "models", target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))


setup(
    ext_modules=cythonize(
        kernel_extensions(),
        compiler_directives=DIRECTIVES,
        build_dir="build/cython",
    ),
    cmdclass={"build_py": build_py_with_models},
)
