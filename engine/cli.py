"""The ``filter-engine`` command line.

Subcommands live in ``engine.commands``, one module each, and are discovered here; a
module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``.
Engine errors become one line on stderr and a documented exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from engine import commands
from engine._version import __version__
from engine.errors import (
    EXIT_USAGE,
    EngineError,
    exit_code_for,
    exit_code_for_signal,
    exit_codes_help,
)


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"engine.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filter-engine",
        description="Filter hazardous content out of text corpora with compiled blocklists "
        "and batched ONNX classifiers.",
        epilog=exit_codes_help(),
    )
    parser.add_argument("--version", action="version", version=f"filter-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return EXIT_USAGE.code
    try:
        return int(args._main(args) or 0)
    except EngineError as err:
        print(f"filter-engine: error: {err}", file=sys.stderr)
        return exit_code_for(err)
    except KeyboardInterrupt:
        return exit_code_for_signal(signal.SIGINT)
    except BrokenPipeError:
        # The reader went away (`filter-engine models | head`): stop quietly, and point
        # stdout at /dev/null so that the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_code_for_signal(signal.SIGPIPE)


if __name__ == "__main__":
    sys.exit(main())
