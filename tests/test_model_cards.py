"""Every committed model has a model card, generated from its recipe and metrics files."""

from __future__ import annotations

import yaml

from lidiff_helpers.core import paths
from lidiff_helpers.core.provenance import sha256_file
from lidiff_helpers.training import model_cards

REQUIRED = {"model_name", "file", "sha256", "architecture", "training_data", "recipe",
            "metrics", "licence", "intended_use", "known_limits", "study"}


def test_every_committed_model_has_a_current_card():
    models = sorted(paths.MODELS.rglob("*.model"))
    assert models, "no committed model found"
    for m in models:
        card = m.with_suffix(".card.yaml")
        assert card.is_file(), f"{m}: no model card (python -m lidiff_helpers.training.model_cards)"
        body = yaml.safe_load(card.read_text())
        assert REQUIRED <= set(body), f"{card}: lacks {REQUIRED - set(body)}"
        assert body["sha256"] == sha256_file(m), f"{card}: describes another file"
        assert body["architecture"]["model"] == "MACE"
    assert not model_cards.stale_cards(), "stale cards: run python -m lidiff_helpers.training.model_cards"


def test_citation_cff_credits_the_study_and_its_data():
    cff = yaml.safe_load((paths.ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["preferred-citation"]["doi"] == "10.1088/2515-7655/ae6c5a"
    data = [r for r in cff["references"] if r["type"] == "data"]
    assert data and data[0]["license"] == "CC-BY-4.0"
    assert data[0]["commit"] == "f5b7d0a0352549a3b68302777fc40b57c1a081d3"
