"""The model registry: cards are validated, missing models are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radlens.errors import ModelError
from radlens.models import registry


def test_no_bundled_weights_means_no_default(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    assert registry.default_model("classify") is None
    assert registry.list_cards() == []
    from radlens.io import image_from_array
    from radlens.tasks.classify import classify

    with pytest.raises(ModelError, match="no classifier is installed"):
        classify(image_from_array(np.zeros((8, 8))))


def test_invalid_cards_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read") as err:
        registry.read_card(bad)
    assert err.value.source == str(bad)
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks"):
        registry.read_card(bad)
    bad.write_text(json.dumps({"name": "x", "version": "1", "task": "classify",
                               "weights": {"file": "x.safetensors"}}))
    with pytest.raises(ModelError, match="lacks backbone"):
        registry.read_card(bad)


def test_one_broken_card_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{broken")
    good = {"name": "seg", "version": "1", "task": "segment", "weights": {"file": "s.st"}}
    (tmp_path / "b.json").write_text(json.dumps(good))
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    assert [c["name"] for c in registry.list_cards()] == ["seg"]
    assert registry.default_model("classify") is None


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        registry.find_card("no-such-model")


def test_population_probabilities_use_the_population_temperature() -> None:
    """A card's population_calibration re-maps adult-calibrated probabilities to the
    population's own temperature; no table or an unknown population leaves them alone."""
    import numpy as np

    from radlens.models.registry import LoadedModel
    from radlens.schema import ModelInfo

    card = {"labels": ["A", "B"],
            "population_calibration": {"paediatric": {"A": {"temperature": 1.0}}}}
    loaded = LoadedModel(None, card, np.array([2.0, 3.0]), ModelInfo("toy", "1", "classify"))
    logits = np.array([[4.0, -3.0], [-1.0, 6.0]])
    adult = 1 / (1 + np.exp(-logits / loaded.temperatures))
    paed = loaded.population_probabilities(adult, "paediatric")
    assert np.allclose(paed[:, 0], 1 / (1 + np.exp(-logits[:, 0] / 1.0)), atol=1e-6)
    assert np.allclose(paed[:, 1], adult[:, 1])  # no own temperature: adult one kept
    assert loaded.population_probabilities(adult, None) is adult
    assert loaded.population_probabilities(adult, "adult") is adult
