"""sqlmap's tamper scripts (Debian ``sqlmap``): one payload-obfuscation technique per script.

sqlmap files each way of disguising an SQL-injection payload to slip past a web application
firewall as a module in its ``tamper/`` directory; the docstring of its ``tamper()`` function says
what it does. That directory is the label: ``cyber`` / ``evasion``. Held-out (no list uses it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .doc import Doc


def docs(tamper_dir: Path) -> Iterator[Doc]:
    """Yield one document per tamper script whose ``tamper()`` has a docstring."""
    for path in sorted(tamper_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "tamper":
                doc = ast.get_docstring(node)
                if doc:
                    text = f"{path.stem}: {doc}"
                    yield Doc(f"sqlmap:tamper/{path.stem}", text, "cyber", "evasion", "sqlmap")
