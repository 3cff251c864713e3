"""MedMNIST training through ``radlens train classifier``: resume, export, card, and the
evaluate / classify / robustness commands on the exported run (synthetic data, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.cli.main import main
from radlens.errors import DataError


def synthetic(path: Path, n_train: int = 48, n_val: int = 24, rgb: bool = False) -> Path:
    """Class 1: a bright square in the centre; class 0: none."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("val", n_val)):
        y = np.arange(n) % 2
        x = rng.integers(20, 80, (n, 28, 28)).astype(np.uint8)
        x[y == 1, 9:19, 9:19] = 220
        if rgb:
            x = np.stack([x, x // 2, x // 3], -1)
        arrays[f"{split}_images"] = x
        arrays[f"{split}_labels"] = y.astype(np.uint8)[:, None]
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    from radlens.models import medmnist

    medmnist.load.cache_clear()


def test_train_resume_export_and_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    data = synthetic(tmp_path / "breastmnist.npz")  # named so: labels and corruption families
    run = tmp_path / "run"
    args = ["train", "classifier", "--data", f"medmnist:{data}", "--backbone", "medvit-hybrid",
            "--no-pretrained", "--threads", "1", "--batch-size", "16", "--lr", "3e-3",
            "--name", "radlens-squares", "--out", str(run), "--json"]
    assert main([*args, "--epochs", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["epochs"] == 1
    assert main([*args, "--epochs", "3"]) == 0  # resumes after epoch 1
    summary = json.loads(capsys.readouterr().out)
    lines = (run / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    card = json.loads((run / "model.json").read_text())
    assert card["task"] == "classify-medmnist" and card["labels"] == ["malignant", "normal, benign"]
    assert card["input"] == {**card["input"], "dims": 2, "channels": 1, "size": 28}
    assert card["calibration"]["temperature"] > 0
    assert set(card["validation"]["metrics"]) >= {"auc", "acc", "balanced_error"}
    assert card["training"]["config"]["out"] == "<run folder>"
    assert summary["val"]["auc"] == pytest.approx(card["validation"]["metrics"]["auc"]["value"])
    assert summary["val"]["auc"] > 0.9  # the squares are easy

    assert main(["evaluate", "--model", str(run), "--data", f"medmnist:{data}", "--split",
                 "val", "--json", "--n-boot", "50"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["n_images"] == 24 and ev["metrics"]["auc"]["value"] == pytest.approx(
        card["validation"]["metrics"]["auc"]["value"])

    from radlens.data.medmnist import to_float
    from radlens.models import medmnist

    val = np.load(data)["val_images"]
    img = tmp_path / "square.png"
    Image.fromarray(val[1]).save(img)
    assert main(["classify", "--model", str(run), str(img), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expect = medmnist.load(str(run)).predict(to_float(val[1:2], 2))[0]
    labels = ["malignant", "normal, benign"]
    assert out["probabilities"][labels[1]] == pytest.approx(float(expect[1]), abs=1e-5)
    assert out["prediction"] == labels[int(expect[1] > 0.5)]
    pix = val[1]

    colour = tmp_path / "colour.png"
    Image.fromarray(np.stack([pix, pix // 2, pix // 3], -1)).save(colour)
    assert main(["classify", "--model", str(run), str(colour)]) == 2
    assert "colour (RGB) image but the model expects grey" in capsys.readouterr().err

    assert main(["robustness", "--model", str(run), "--baseline", str(run), "--data",
                 f"medmnist:{data}", "--corruptions", "pixelate,contrast_down", "--json",
                 "--n-boot", "20"]) == 0
    rb = json.loads(capsys.readouterr().out)
    assert set(rb["per_corruption"]) == {"pixelate", "contrast_down"}
    assert len(rb["per_corruption"]["pixelate"]["by_severity"]) == 5
    assert rb["normalised_mean"] == pytest.approx(1.0)  # a model against itself
    assert "clean" in rb["ci"] and "mean" in rb["ci"]


def test_bad_input_for_training_and_evaluation(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rgb = synthetic(tmp_path / "colour.npz", 8, 8, rgb=True)
    with pytest.raises(DataError, match="--size 64 does not match"):
        from radlens.train import medmnist as med
        from radlens.train.config import TrainConfig

        med.open_file(TrainConfig(data=(f"medmnist:{rgb}",), labels=(), out=str(tmp_path),
                                  size=64))
    status = main(["train", "classifier", "--data", f"medmnist:{rgb}", "--labels", "a,b,c",
                   "--out", str(tmp_path / "r"), "--no-pretrained", "--backbone", "cnn3d"])
    assert status == 2
    assert "--labels gives 3 names but colour has 2 classes" in capsys.readouterr().err
    assert main(["train", "classifier", "--data", str(tmp_path), "--out",
                 str(tmp_path / "r2")]) == 2
    assert "--labels is required" in capsys.readouterr().err


def test_corrupt_augment_changes_training_batches(tmp_path: Path) -> None:
    import torch

    from radlens.train import medmnist as med

    x = torch.from_numpy(np.random.default_rng(0).random((16, 1, 28, 28)).astype(np.float32))
    out = med._corrupt(x.clone(), np.random.default_rng(1), "breast-us")
    changed = [not torch.equal(a, b) for a, b in zip(out, x, strict=True)]
    assert 0 < sum(changed) < 16  # about half of the batch
    assert out.dtype == x.dtype and float(out.min()) >= 0 and float(out.max()) <= 1
    same = med._corrupt(x.clone(), np.random.default_rng(1), "breast-us")
    assert torch.equal(out, same)
    assert torch.equal(med._corrupt(x.clone(), np.random.default_rng(1), "ct-shape"), x)
