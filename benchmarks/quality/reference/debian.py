"""Debian package descriptions (the archive's ``Packages`` and ``Translation-en`` indexes).

One document is one package's short and long description. Security software is kept out of
the benign set as ``security_defense`` when the archive says so: a ``security::*`` debtag (``Tag``
field), or maintenance by the Debian Security Tools team (``Maintainer`` field), which packages
the penetration-testing and forensics tools (sqlmap, hydra, aircrack-ng...), many of them
untagged. Everything else is benign (see LABELS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .doc import Doc

SECURITY_TEAM = "team+pkg-security@tracker.debian.org"


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.split("\n"):
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            yield fields


def _long(desc: str) -> str:
    """Debian's format: a short first line, then indented lines, ``.`` for a blank line."""
    lines = desc.split("\n")
    out = [lines[0].strip()]
    for line in lines[1:]:
        s = line.strip()
        out.append("" if s == "." else s)
    return "\n".join(out).strip()


def docs(packages: Path, translation: Path) -> Iterator[Doc]:
    """Yield one document per package name (first stanza wins), sorted by name."""
    long_by_md5: dict[str, str] = {}
    for st in _stanzas(translation.read_text(encoding="utf-8", errors="replace")):
        if "Description-md5" in st and "Description-en" in st:
            long_by_md5[st["Description-md5"]] = _long(st["Description-en"])
    seen: dict[str, Doc] = {}
    for st in _stanzas(packages.read_text(encoding="utf-8", errors="replace")):
        name = st.get("Package")
        if not name or name in seen:
            continue
        text = long_by_md5.get(st.get("Description-md5", ""), _long(st.get("Description", "")))
        tags = [t.strip() for t in st.get("Tag", "").replace("\n", " ").split(",") if t.strip()]
        security = sorted(
            t[len("security::") :] or "other" for t in tags if t.startswith("security::")
        )
        if security:
            label, category = "security_defense", security[0]
        elif SECURITY_TEAM in st.get("Maintainer", ""):
            label, category = "security_defense", "security_team"
        else:
            label, category = "benign", st.get("Section", "unknown").split("/")[-1]
        seen[name] = Doc(f"debian:{name}", f"{name}: {text}", label, category, "debian_desc")
    for name in sorted(seen):
        yield seen[name]
