"""The segmentation network, its training/export on a tiny synthetic set, loading and use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.cli.main import main
from radlens.errors import DataError, ModelError
from radlens.io import image_from_array
from radlens.models import registry
from radlens.models.segmenter import CHANNELS, LungUNet, load_segmenter
from radlens.tasks.segment import segment_lungs
from tests.grounding.conftest import make_fake_set


def test_network_shapes() -> None:
    net = LungUNet(pretrained=False).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 1, 64, 96))
    assert y.shape == (2, len(CHANNELS), 32, 48)


def test_train_export_and_card(tiny_model: Path) -> None:
    card = json.loads((tiny_model / "model.json").read_text())
    assert card["task"] == "segment" and card["labels"] == list(CHANNELS)
    assert card["input"]["size"] == 64 and card["validation"]["n_images"] >= 1
    registry.read_card(tiny_model / "model.json")  # the classifier registry accepts the card
    size_mb = (tiny_model / "model.safetensors").stat().st_size / 2**20
    assert size_mb <= 15


def test_segment_lungs_in_image_coordinates(tiny_model: Path) -> None:
    pixels = np.full((120, 90), 0.8, np.float32)
    pixels[10:100, 8:40] = 0.2
    pixels[10:100, 50:82] = 0.2
    res = segment_lungs(image_from_array(pixels), str(tiny_model))
    assert res.right.mask.shape == (120, 90) and res.left.mask.shape == (120, 90)
    assert res.probability.shape == (2, 32, 32) and res.zones.shape == (256, 256)
    assert res.model.task == "segment" and res.convention == "full"
    assert res.right.status in ("present", "small", "missing")
    with pytest.raises(ValueError):
        segment_lungs(image_from_array(pixels), str(tiny_model), convention="other")


def test_tampered_weights_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    for name in ("model.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny_model / name).read_bytes())
    with (tmp_path / "model.safetensors").open("ab") as fh:
        fh.write(b"x")
    load_segmenter.cache_clear()
    with pytest.raises(ModelError, match="SHA-256"):
        load_segmenter(str(tmp_path))


def test_bad_data_folder(tmp_path: Path) -> None:
    from radlens.grounding.data import load_mask_set

    with pytest.raises(DataError, match=r"metadata\.csv"):
        load_mask_set(tmp_path)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["evaluate-segmentation", "--data", str(tmp_path / "nope"), "--all"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "nope" in err[0]


def test_cli_evaluate_on_fake_set(tiny_model: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = make_fake_set(tmp_path / "d", n=4)
    status = main(["evaluate-segmentation", "--data", str(root), "--model", str(tiny_model),
                   "--all", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["n_images"] == 4
    assert set(out["summary"]) == {"radlens/full", "radlens/visible",
                                   "threshold-baseline/full", "threshold-baseline/visible"}
    assert 0 <= out["summary"]["threshold-baseline/full"]["dice"]["mean"] <= 1
