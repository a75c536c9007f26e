"""The shipped hazard classifier (``models/hazard-cyber``) as the default filter runs it.

The sentences are written for this test (none comes from the reference set): two attack
descriptions and two defensive ones, each with exactly two listed terms of low weight, so
the blocklist rules keep all four and only the classifier stage tells them apart; and
rows it must not be asked about at all.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine import Filter, FilterSpec

ATTACKS = [
    "The adversary may steal credentials from the browser and use them for lateral "
    "movement.",
    "The group used a phishing email with a malicious attachment to get a foothold in the "
    "network.",
]
DEFENCES = [
    "This package fixes a vulnerability that let a remote attacker crash the server.",
    "This tool lets administrators audit their own network for brute force attempts and "
    "malicious logins.",
]
NOT_ESCALATED = [
    "The committee met on Tuesday to discuss the library budget.",  # no listed term
    "A cracker is a thin dry biscuit.",  # one listed term of low weight
]


@pytest.fixture(scope="module")
def annotated() -> dict[str, dict]:
    spec = FilterSpec.default().with_options(mode="annotate")
    texts = ATTACKS + DEFENCES + NOT_ESCALATED
    kept = Filter(spec).apply(pa.table({"text": texts})).kept
    return {row["text"]: row for row in kept.to_pylist()}


@pytest.mark.parametrize("text", ATTACKS)
def test_default_filter_removes_attack_text_by_its_classifier(annotated, text):
    row = annotated[text]
    assert row["fe_hazard_distinct"] == 2  # the blocklist alone would keep it
    assert row["fe_reason"] == "hazard_model", row
    assert row["fe_hazard_cyber_score"] >= 0.5


@pytest.mark.parametrize("text", DEFENCES)
def test_default_filter_keeps_defensive_text_its_classifier_scored(annotated, text):
    row = annotated[text]
    assert row["fe_hazard_distinct"] == 2
    assert row["fe_reason"] is None, row
    assert row["fe_hazard_cyber_score"] is not None and row["fe_hazard_cyber_score"] < 0.005


@pytest.mark.parametrize("text", NOT_ESCALATED)
def test_default_classifier_does_not_run_on_rows_the_blocklist_did_not_escalate(annotated,
                                                                               text):
    row = annotated[text]
    assert row["fe_reason"] is None
    assert row["fe_hazard_cyber_score"] is None
