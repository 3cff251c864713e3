"""The bundled classifier: a valid card, small safetensors weights, sensible calls on real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.models import registry

NAME = registry.default_model("classify")
needs_model = pytest.mark.skipif(NAME is None, reason="no bundled classifier weights")


@needs_model
def test_card_and_weights() -> None:
    assert NAME is not None
    card = registry.find_card(NAME)
    weights = registry.weights_dir() / card["weights"]["file"]
    assert weights.suffix == ".safetensors" and weights.stat().st_size <= 25 * 2**20
    assert "Pneumonia" in card["labels"] and "No Finding" in card["labels"]
    assert card["not_for"] and card["training"]["data"]
    m = card["validation"]["metrics"]["Pneumonia"]
    assert m["auroc"]["ci_low"] <= m["auroc"]["value"] <= m["auroc"]["ci_high"]
    assert any(n["name"] == NAME for n in registry.list_cards())


@needs_model
def test_calls_on_kermany_images(shared_data: Path) -> None:
    from radlens.io import load_image
    from radlens.schema import Call
    from radlens.tasks.classify import classify

    folder = shared_data / "pneumonia-kermany" / "train"
    calls = {}
    for cls in ("PNEUMONIA", "NORMAL"):
        for path in sorted((folder / cls).iterdir())[:4]:
            result = classify(load_image(path), explain=cls == "PNEUMONIA")
            calls[path] = (cls, result)
    pneu = [r for c, r in calls.values() if c == "PNEUMONIA"]
    normal = [r for c, r in calls.values() if c == "NORMAL"]
    assert sum(r.findings[0].call is Call.POSITIVE for r in pneu) >= 3
    assert sum(r.findings[0].call is Call.NEGATIVE for r in normal) >= 3
    assert all(len(r.regions) == (r.findings[0].call is Call.POSITIVE) for r in pneu)
