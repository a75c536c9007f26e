"""The threat library that OWASP pytm ships (``pytm/threatlib/threats.json``, CAPEC-derived).

Each threat is an attack pattern written from the adversary's side (``description``,
``details``, ``example``): ``cyber`` / ``technique``. Its ``mitigations`` text is a separate
``security_defense`` document. pytm is not a blocklist source, so this is held-out cyber text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from .doc import Doc

_TAGS = re.compile(r"<[^>]+>")


def _clean(text: str) -> str:
    return " ".join(_TAGS.sub(" ", text).split())


def docs(threats_json: Path) -> Iterator[Doc]:
    """Yield an attack document and a mitigation document per threat."""
    for threat in json.loads(threats_json.read_text(encoding="utf-8")):
        sid = threat["SID"]
        attack = [threat.get(k, "") for k in ("description", "details", "example")]
        text = "\n".join(_clean(p) for p in attack if _clean(p))
        yield Doc(f"pytm:{sid}", text, "cyber", "technique", "pytm")
        mitigation = _clean(threat.get("mitigations", ""))
        if mitigation:
            yield Doc(
                f"pytm:{sid}:mitigations",
                mitigation,
                "security_defense",
                "mitigation",
                "pytm",
            )
