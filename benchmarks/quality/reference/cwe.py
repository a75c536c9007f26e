"""CWE weaknesses and categories from the catalogue XML that the ``cwe2`` wheel ships.

CWE describes classes of software weakness for people who prevent them: not an attack
capability and not plain benign text, so every entry is ``security_defense`` (LABELS.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from .doc import Doc

_NS = "{http://cwe.mitre.org/cwe-7}"


def _text(el: ET.Element | None) -> str:
    return " ".join(" ".join(el.itertext()).split()) if el is not None else ""


def docs(xml_path: Path) -> Iterator[Doc]:
    """Yield every live weakness (name, description, extended description) and category."""
    root = ET.parse(xml_path).getroot()
    kinds = (("weakness", "Weakness", "Description"), ("category", "Category", "Summary"))
    for kind, tag, body in kinds:
        for el in root.iter(f"{_NS}{tag}"):
            if el.get("Status") == "Deprecated":
                continue
            parts = [el.get("Name", ""), _text(el.find(f"{_NS}{body}"))]
            if kind == "weakness":
                parts.append(_text(el.find(f"{_NS}Extended_Description")))
            text = "\n".join(p for p in parts if p)
            yield Doc(f"cwe:{el.get('ID')}", text, "security_defense", kind, "cwe")
