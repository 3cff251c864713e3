"""`radlens evaluate --by sex,age` end to end on a tiny stand-in model (no training, no weights).

The model and the dataset spec are replaced by in-memory stand-ins; `predict`, `harmonise`,
the subgroup figures, the JSON output and the table are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from radlens.cli.main import main
from radlens.data import spec as data_spec
from radlens.data.samples import Dataset, make_sample
from radlens.models import registry
from radlens.models.registry import LoadedModel
from radlens.schema import ModelInfo

LABELS = ("Pneumonia",)


class _Brightness(torch.nn.Module):
    """Logit = 12 * (mean brightness - 0.5): bright films score positive."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 12.0 * (x.mean(dim=(1, 2, 3)) - 0.5)[:, None]


def _model() -> LoadedModel:
    card = {"labels": list(LABELS), "input": {"size": 16},
            "thresholds": {"Pneumonia": {"youden": 0.5, "sens95": 0.3, "operating": 0.6,
                                         "default": "operating"}}}
    return LoadedModel(_Brightness(), card, np.ones(1), ModelInfo("toy", "1", "classify"))


def _dataset(folder: Path) -> Dataset:
    """24 films, 12 patients: 8 M (18-39), 12 F (65+), 3 sex-unknown children, one unreadable."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(24):
        sex, age = ("M", "25") if i < 8 else ("female", "70.0") if i < 20 else ("", "10")
        y = i % 2
        if sex == "M":  # separable
            level = (170 if y else 80) + rng.integers(-10, 10)
        else:  # overlapping
            level = (140 if y else 115) + rng.integers(-40, 40)
        path = folder / f"{i}.png"
        if i == 23:
            path.write_bytes(b"not a png")
        else:
            PILImage.fromarray(np.full((32, 32), level, np.uint8)).save(path)
        samples.append(make_sample(str(path), {"Pneumonia": float(y)}, LABELS, f"p{i // 2}",
                                   "toy", {"sex": sex, "age": age}))
    return Dataset("toy", LABELS, tuple(samples))


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _dataset(tmp_path)
    monkeypatch.setattr(registry, "load", lambda name: _model())
    monkeypatch.setattr(data_spec, "load", lambda spec: ds)


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_by_sex_and_age_json(toy: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "toy", "--data", "folder:/toy", "--by", "sex,age",
                 "--json", "--n-boot", "20", "--min-group-size", "4"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["n_images"] == 23 and result["n_skipped"] == 1
    sub = result["subgroups"]
    assert sub["factors"] == ["sex", "age"] and sub["operating"] == {"Pneumonia": "operating"}
    sex = sub["by"]["sex"]["groups"]
    # the unreadable film (a child of unknown sex) is not counted; metadata stays aligned
    assert [sex[g]["n_images"] for g in ("M", "F", "unknown")] == [8, 12, 3]
    age = sub["by"]["age"]["groups"]
    assert [age[b]["n_images"] for b in ("0-17", "18-39", "40-64", "65+", "unknown")] == \
        [3, 8, 0, 12, 0]
    assert sex["M"]["metrics"]["Pneumonia"]["auroc"]["value"] == 1.0
    kid = age["0-17"]["metrics"]["Pneumonia"]
    assert kid["auroc"]["value"] is None and "too few samples (3 < 4)" in kid["note"]
    assert age["18-39"]["metrics"]["Pneumonia"] == sex["M"]["metrics"]["Pneumonia"]
    gap = sub["by"]["age"]["largest_gap"]["Pneumonia"]
    assert (gap["auroc"]["high"]["group"], gap["auroc"]["low"]["group"]) == ("18-39", "65+")
    assert gap["auroc"]["gap"] == pytest.approx(
        1.0 - age["65+"]["metrics"]["Pneumonia"]["auroc"]["value"]) and gap["auroc"]["gap"] > 0
    # sensitivity / specificity gaps at the card's default ("operating") threshold, 0.6
    assert gap["sensitivity"]["metric"] == "sens_operating"
    assert gap["specificity"]["metric"] == "spec_operating"
    m = sex["M"]["metrics"]["Pneumonia"]
    assert m["sens_operating"]["value"] is not None and "sens_youden" in m


def test_evaluate_by_prints_a_table_and_rejects_unknown_factors(
        toy: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "toy", "--data", "folder:/toy", "--by", "age",
                 "--n-boot", "10"]) == 0
    out = capsys.readouterr().out
    assert "by age" in out and "largest gap by age:" in out and "by sex" not in out
    assert "sens@operating" in out
    assert "0-17" in out and "too few samples (3 < 10)" in out
    assert main(["evaluate", "--model", "toy", "--data", "folder:/toy", "--by", "sex,race"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radlens: --by: unknown subgroup factor")
