"""MITRE ATT&CK STIX bundles (enterprise, mobile, ICS), labelled by STIX object type.

Attack objects (techniques, software, groups, campaigns, tactics) and the ``uses`` relationships
that describe procedures are ``cyber``; mitigations, detections and assets are
``security_defense``. ATT&CK is a blocklist source (names and aliases), so the builder marks
these documents ``list_source=True``: ATT&CK recall is not held-out recall.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from .doc import Doc

# STIX type -> (label, category)
OBJECT_LABELS = {
    "attack-pattern": ("cyber", "technique"),
    "malware": ("cyber", "malware"),
    "tool": ("cyber", "tool"),
    "intrusion-set": ("cyber", "group"),
    "campaign": ("cyber", "campaign"),
    "x-mitre-tactic": ("cyber", "tactic"),
    "course-of-action": ("security_defense", "mitigation"),
    "x-mitre-data-source": ("security_defense", "detection"),
    "x-mitre-data-component": ("security_defense", "detection"),
    "x-mitre-asset": ("security_defense", "asset"),
}
# relationship_type -> (label, category)
RELATION_LABELS = {
    "uses": ("cyber", "procedure"),
    "mitigates": ("security_defense", "mitigation"),
    "detects": ("security_defense", "detection"),
}
_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def _clean(text: str) -> str:
    """Drop ATT&CK's ``(Citation: ...)`` markers and keep the text of markdown links."""
    return _LINK.sub(r"\1", _CITATION.sub("", text)).strip()


def _external_id(obj: dict) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name", "").startswith("mitre-") and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def docs(bundles: list[Path]) -> Iterator[Doc]:
    """Yield each live (not revoked, not deprecated) object and relationship once, by STIX id."""
    seen: set[str] = set()
    for path in bundles:
        objects = json.loads(path.read_text(encoding="utf-8"))["objects"]
        for obj in sorted(objects, key=lambda o: o["id"]):
            if obj["id"] in seen or obj.get("revoked") or obj.get("x_mitre_deprecated"):
                continue
            desc = _clean(obj.get("description", ""))
            if not desc:
                continue
            if obj["type"] == "relationship":
                lab = RELATION_LABELS.get(obj.get("relationship_type", ""))
                if lab is None:
                    continue
                key = "rel:" + obj["id"].split("--", 1)[1]
                text = desc
            else:
                lab = OBJECT_LABELS.get(obj["type"])
                if lab is None:
                    continue
                key = _external_id(obj) or obj["id"]
                text = f"{obj['name']}: {desc}"
            seen.add(obj["id"])
            yield Doc(f"attack:{key}", text, lab[0], lab[1], "attack")
