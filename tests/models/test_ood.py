"""The OOD score: ~1 for training-like embeddings, high for shifted ones; stored losslessly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.errors import ModelError
from radlens.models import ood
from radlens.tasks.guardrails import ood_warning


def _gaussian(n: int, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    scales = np.linspace(3.0, 0.1, 40)
    return rng.normal(size=(n, 40)) * scales + shift


def test_threshold_holds_its_false_alarm_rate_and_catches_a_shift(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stats = ood.fit(_gaussian(3000, rng), _gaussian(2000, rng), quantile=0.99)
    fresh = stats.score(_gaussian(4000, rng))
    assert 0.9 < float(np.median(fresh)) < 1.1  # ~1 in distribution by construction
    assert 0.003 < float(np.mean(fresh > stats.threshold)) < 0.02
    # a shift along a low-variance direction is caught by the full (shrunk) covariance ...
    off = _gaussian(500, rng)
    off[:, -1] += 3.0
    assert float(np.mean(stats.score(off) > stats.threshold)) > 0.9
    ppca = ood.fit(_gaussian(3000, rng), _gaussian(2000, rng), k=8)
    assert float(np.mean(ppca.score(_gaussian(2000, rng)) > ppca.threshold)) < 0.03
    stats.save(tmp_path / "s.ood.safetensors")
    again = ood.load(tmp_path / "s.ood.safetensors")
    assert np.allclose(again.score(off), stats.score(off), rtol=1e-5)
    assert "k=40" in repr(again) and "[" not in repr(again)


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(ModelError, match="more than 8"):
        ood.fit(_gaussian(5, rng), _gaussian(5, rng), k=8)
    stats = ood.fit(_gaussian(100, rng), _gaussian(50, rng), k=8)
    with pytest.raises(ModelError, match="40-d embeddings"):
        stats.score(np.zeros((2, 12)))
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ModelError, match="cannot read OOD"):
        ood.load(tmp_path / "bad.safetensors")


def test_guardrail_warns_only_above_the_threshold() -> None:
    assert ood_warning(None, 2.0, "m") is None
    assert ood_warning(1.5, 2.0, "m") is None
    w = ood_warning(3.25, 2.0, "radlens-x")
    assert w is not None and w.code == "out_of_distribution"
    assert "3.25" in w.message and "radlens-x" in w.message
