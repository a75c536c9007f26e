"""Evasion suite: obfuscated hazard terms that ``normalize="robust"`` must still see, and
the obfuscations that get through by design (the README states both).

The matchers are built from an explicit list of terms that are on the shipped lists, so
that the suite does not depend on the lists' exact contents.
"""

from __future__ import annotations

import pytest

from engine import Matcher

TERMS = ["sarin", "Cobalt Strike", "nerve agent", "Mimikatz", "botnet", "Emotet",
         "highly enriched uranium", "サリン", "沙林"]

#: (obfuscation, text, the term it hides, seen by the plain matcher too)
DETECTED = [
    ("hyphen between words", "a nerve-agent attack", "nerve agent", False),
    ("non-breaking hyphen", "a nerve\u2011agent attack", "nerve agent", False),
    ("em dash between words", "nerve\u2014agent", "nerve agent", False),
    ("line break between words", "they used Cobalt\nStrike beacons", "Cobalt Strike", False),
    ("double space", "highly  enriched uranium", "highly enriched uranium", False),
    ("NBSP and tab", "highly\u00a0enriched\turanium", "highly enriched uranium", False),
    ("underscore", "Cobalt_Strike.exe", "Cobalt Strike", False),
    ("words joined (join=True)", "CobaltStrike loader", "Cobalt Strike", False),
    ("plural -s", "two sarins", "sarin", False),
    ("plural -s", "rented botnets", "botnet", False),
    ("plural -s, capitalised", "Emotets spread", "Emotet", False),
    ("plural -es", "sarines", "sarin", False),
    ("possessive ’s", "Emotet\u2019s loader", "Emotet", True),
    ("soft hyphen", "sa\u00adrin", "sarin", False),
    ("zero-width space", "sa\u200brin", "sarin", False),
    ("word joiner", "sa\u2060rin", "sarin", False),
    ("zero-width joiner", "Mimi\u200dkatz", "Mimikatz", False),
    ("variation selector", "bot\ufe0fnet", "botnet", False),
    ("Cyrillic а", "s\u0430rin", "sarin", False),
    ("Cyrillic ѕ", "\u0455arin", "sarin", False),
    ("Greek Μ and ο", "\u039cimikatz and Emοtet".replace("ο", "\u03bf"), "Mimikatz", False),
    ("Greek ο", "Em\u03bftet", "Emotet", False),
    ("decimal reference", "s&#97;rin", "sarin", False),
    ("hex reference", "&#x73;arin", "sarin", False),
    ("named reference", "Cobalt&nbsp;Strike", "Cobalt Strike", False),
    ("reference for a hyphen", "nerve&#45;agent", "nerve agent", False),
    ("full-width", "\uff53\uff41\uff52\uff49\uff4e", "sarin", False),
    ("math bold", "\U0001d42c\U0001d41a\U0001d42b\U0001d422\U0001d427", "sarin", False),
    ("long s", "\u017farin", "sarin", False),
    ("katakana inside Japanese", "これはサリンです", "サリン", True),
    ("Han inside Chinese", "沙林毒气", "沙林", True),
    ("upper case", "SARIN", "sarin", True),
]

#: (obfuscation, text): what "robust" does not see, by design.
GETS_THROUGH = [
    ("spaced-out letters", "s a r i n"),
    ("dotted letters", "s.a.r.i.n"),
    ("leetspeak", "s4r1n"),
    ("leetspeak", "M1m1k4tz"),
    ("hyphen inside a word", "sar-in"),
    ("accented letter", "sar\u00edn"),
    ("digits attached", "mimikatz64"),
    ("translation not on the list", "\u0417\u0430\u0440\u0438\u043d"),  # Russian
    ("translation not on the list", "gas nervioso"),
    ("URL escape", "%73arin"),
    ("markup inside the word", "s<b>ar</b>in"),
]


@pytest.fixture(scope="module")
def robust():
    return Matcher(TERMS, normalize="robust", join=True)


@pytest.fixture(scope="module")
def plain():
    return Matcher(TERMS)


@pytest.mark.parametrize(("how", "text", "term", "plain_sees"), DETECTED,
                         ids=[f"{how}: {text!r}" for how, text, _, _ in DETECTED])
def test_robust_sees_the_obfuscated_term(robust, plain, how, text, term, plain_sees):
    found = [f.pattern for f in robust.find(text)]
    assert term in found, (how, text, found)
    assert (term in [f.pattern for f in plain.find(text)]) == plain_sees, how


@pytest.mark.parametrize(("how", "text"), GETS_THROUGH,
                         ids=[f"{how}: {text!r}" for how, text in GETS_THROUGH])
def test_what_gets_through_by_design(robust, how, text):
    assert robust.find(text) == [], how


def test_joined_words_need_join(robust):
    assert Matcher(TERMS, normalize="robust").count(["CobaltStrike"]).tolist() == [0]
    assert robust.count(["CobaltStrike"]).tolist() == [1]
