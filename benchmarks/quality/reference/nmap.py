"""Nmap's NSE script descriptions (Debian ``nmap-common``), labelled by the scripts' categories.

Nmap files every script under categories (``categories = {...}``). Scripts in ``exploit``,
``dos`` or ``brute`` actively attack a target: ``cyber``. Scripts that probe for weaknesses or
infections (``vuln``, ``malware``, ``intrusive``, ``auth``, ``fuzzer``) are ``security_defense``.
The rest (discovery, version, safe...) is benign network tooling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .doc import Doc

_DESC = re.compile(r"^description\s*=\s*\[(=*)\[(.*?)\]\1\]", re.S | re.M)
_CATS = re.compile(r"^categories\s*=\s*\{([^}]*)\}", re.M)
ATTACK = ("exploit", "dos", "brute")
PROBE = ("vuln", "malware", "intrusive", "auth", "fuzzer")


def docs(script_dir: Path) -> Iterator[Doc]:
    """Yield one document per ``.nse`` script that has a description."""
    for path in sorted(script_dir.glob("*.nse")):
        src = path.read_text(encoding="utf-8", errors="replace")
        desc, cats = _DESC.search(src), _CATS.search(src)
        if not desc or not desc.group(2).strip():
            continue
        found = re.findall(r"[\"']([a-z]+)[\"']", cats.group(1)) if cats else []
        attack = [c for c in ATTACK if c in found]
        probe = [c for c in PROBE if c in found]
        if attack:
            label, category = "cyber", attack[0]
        elif probe:
            label, category = "security_defense", probe[0]
        else:
            label, category = "benign", found[0] if found else "general"
        text = f"{path.stem}: {desc.group(2).strip()}"
        yield Doc(f"nmap:{path.stem}", text, label, category, "nmap")
