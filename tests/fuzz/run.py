"""Coverage-guided fuzzing of one target with atheris (libFuzzer flags pass through).

    python -m tests.fuzz.run matcher_offsets -max_total_time=600 -seed=1
"""

import sys

import atheris

with atheris.instrument_imports():
    import engine.io.arrow_buffers  # noqa: F401
    import engine.io.readers  # noqa: F401
    import engine.match.file_format  # noqa: F401
    import engine.match.matcher  # noqa: F401

from tests.fuzz.targets import TARGETS, check  # noqa: E402


def main() -> None:
    name = sys.argv.pop(1)
    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; one of {', '.join(TARGETS)}")
    atheris.Setup(sys.argv, lambda data: check(name, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
