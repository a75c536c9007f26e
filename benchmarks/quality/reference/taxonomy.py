"""Labels from WordNet's hypernym taxonomy: the roots, and how dictionaries reuse them.

A synset's label is decided only by which root synsets its hypernym closure (class and instance
hypernyms) reaches; no gloss or lemma text is searched. Roots are pinned by WordNet 3.0 offset
*and* a lemma, so a different WordNet release fails loudly instead of labelling silently wrong.
LABELS.md explains each choice.
"""

from __future__ import annotations

from .wordnet import Synset, closure

# (key, a lemma of that synset, label, category). Order matters inside a label: the first root
# a closure reaches gives the category, so specific roots come before general ones.
ROOTS: list[tuple[str, str, str, str]] = [
    ("n:03013162", "chemical_weapon", "cbrn", "chemical"),
    ("n:14993378", "poison_gas", "cbrn", "chemical"),
    ("n:14960721", "nerve_gas", "cbrn", "chemical"),
    ("n:00967622", "chemical_warfare", "cbrn", "chemical"),
    ("n:00763282", "chemical_terrorism", "cbrn", "chemical"),
    ("n:02842303", "bioweapon", "cbrn", "biological"),
    ("n:09221424", "biological_agent", "cbrn", "biological"),
    ("n:00967780", "biological_warfare", "cbrn", "biological"),
    ("n:00996056", "germ_warfare", "cbrn", "biological"),
    ("n:00763132", "bioterrorism", "cbrn", "biological"),
    ("n:03834604", "nuclear_weapon", "cbrn", "nuclear_radiological"),
    ("n:00764588", "nuclear_terrorism", "cbrn", "nuclear_radiological"),
    ("n:07408386", "nuclear_explosion", "cbrn", "nuclear_radiological"),
    ("n:04565963", "weapon_of_mass_destruction", "cbrn", "general"),
    ("n:14585808", "ammunition", "cbrn", "general"),  # "nuclear or chemical or biological..."
    ("n:06573020", "malevolent_program", "cyber", "malware"),
    ("n:06587980", "spyware", "cyber", "malware"),
    ("n:06354481", "backdoor", "cyber", "malware"),
    ("n:00763630", "cyberwar", "cyber", "attack"),
    ("n:00768483", "cybercrime", "cyber", "attack"),
    ("v:02571067", "crack", "cyber", "attack"),
    ("n:10155222", "cyber-terrorist", "cyber", "actor"),
    ("n:09974278", "cracker", "cyber", "actor"),
    ("n:15034074", "toxin", "dual_use", "toxin"),
    ("n:15032376", "poison", "dual_use", "toxin"),
    ("n:01386007", "pathogen", "dual_use", "pathogen"),
    ("n:01328702", "virus", "dual_use", "pathogen"),
    ("n:01348530", "bacteria", "dual_use", "pathogen"),
    ("n:15002233", "radioactive_material", "dual_use", "radioactive"),
    ("n:03304730", "explosive", "dual_use", "explosive"),
    ("n:03305522", "explosive_device", "dual_use", "explosive"),
    ("n:04565375", "weapon", "dual_use", "weapon"),
    ("n:04566257", "weaponry", "dual_use", "weapon"),
    ("n:02703275", "ammunition", "dual_use", "weapon"),
]
HAZARD = ("cbrn", "cyber")
PRIORITY = ("cbrn", "cyber", "dual_use")

# A sense is "about computing" when its closure reaches one of these or it sits in WordNet's
# computer-science topic domain; used to read computing dictionaries (FOLDOC, Jargon, VERA).
COMPUTING_ROOTS = {
    "n:06566077": "software",
    "n:06568978": "computer_program",
    "n:03082979": "computer",
    "n:09951274": "computer_user",
}
COMPUTER_SCIENCE_DOMAIN = ("n:06128570", "computer_science")


def check_roots(synsets: dict[str, Synset]) -> None:
    """Fail if a pinned root is missing or is not the synset its lemma says (wrong release)."""
    pinned = [(k, lem) for k, lem, _, _ in ROOTS] + list(COMPUTING_ROOTS.items())
    for key, lemma in [*pinned, COMPUTER_SCIENCE_DOMAIN]:
        if key not in synsets or lemma not in synsets[key].lemmas:
            raise AssertionError(f"WordNet root {key} {lemma} not found: not WordNet 3.0?")


def label_synsets(synsets: dict[str, Synset]) -> dict[str, tuple[str, str]]:
    """``key -> (label, category)`` for every synset; ``("benign", "general")`` below no root."""
    check_roots(synsets)
    out: dict[str, tuple[str, str]] = {}
    for key in synsets:
        reached = closure(synsets, key)
        best = ("benign", "general")
        for label in PRIORITY:
            hit = next((cat for k, _, lab, cat in ROOTS if lab == label and k in reached), None)
            if hit is not None:
                best = (label, hit)
                break
        out[key] = best
    # A part of a hazard (WordNet part meronym: the plutonium pit of an atom bomb, a nuclear
    # warhead) is about that hazard even where its own hypernyms lead elsewhere.
    for key in sorted(out):
        if out[key][0] in HAZARD:
            for part in synsets[key].parts:
                if out[part][0] not in HAZARD:
                    out[part] = out[key]
    return out


def computing_senses(synsets: dict[str, Synset]) -> set[str]:
    """Keys of the synsets whose meaning is about computers (see ``COMPUTING_ROOTS``)."""
    roots = set(COMPUTING_ROOTS)
    return {
        key
        for key, syn in synsets.items()
        if COMPUTER_SCIENCE_DOMAIN[0] in syn.domains or closure(synsets, key) & roots
    }


class HeadwordLabeller:
    """Label a dictionary entry from its headword's WordNet senses (see LABELS.md, "Dictionaries").

    General dictionaries: a hazard label when *every* sense of the headword carries it;
    ``ambiguous`` when only some senses are hazard senses; ``dual_use`` when any sense is
    dual-use; else benign. Computing dictionaries read the headword in its computing sense:
    ``cyber`` when a sense is cyber and no other computing sense is benign.
    """

    def __init__(self, synsets: dict[str, Synset], senses: dict[str, list[str]]):
        self.labels = label_synsets(synsets)
        self.computing = computing_senses(synsets)
        self.senses = senses

    def _keys(self, headword: str) -> list[str]:
        """Senses of ``headword`` spelt exactly, or differing only in its first letter's case.

        ``Sarin``/``sarin`` and ``Nuclear weapon``/``nuclear weapon`` are one word; ``bw`` (a
        country code) is not ``BW`` (biological warfare), nor ``WORM`` (storage) ``worm``.
        """
        h = headword.replace("_", " ").strip()
        if not h:
            return []
        variants = dict.fromkeys([h, h[0].lower() + h[1:], h[0].upper() + h[1:]])
        return [k for v in variants for k in self.senses.get(v, [])]

    def label(self, headwords: list[str], computing: bool) -> tuple[str, str]:
        keys = list(dict.fromkeys(k for h in headwords for k in self._keys(h)))
        if not keys:
            return ("benign", "general")
        labs = [self.labels[k] for k in keys]
        if computing:
            cyber = [lc for k, lc in zip(keys, labs, strict=True) if lc[0] == "cyber"]
            other = [k for k, lc in zip(keys, labs, strict=True) if lc[0] != "cyber"]
            if cyber and not any(k in self.computing for k in other):
                return cyber[0]
        hazard = [lc for lc in labs if lc[0] in HAZARD]
        if hazard and len(hazard) == len(labs) and len({lab for lab, _ in hazard}) == 1:
            return hazard[0]
        if hazard:
            return ("ambiguous", "mixed_senses")
        dual = [lc for lc in labs if lc[0] == "dual_use"]
        if dual:
            return dual[0]
        return ("benign", "general")
