"""Localisation metrics, the reference pointers and the learned localiser on synthetic boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radlens.cli.main import main
from radlens.grounding.localisation import (
    BoxSample,
    average_precision,
    box_mask,
    load_box_set,
    location_prior,
    mass_in_boxes,
    pointing_hit,
)
from radlens.io import image_from_array
from radlens.schema import Box, RegionKind
from radlens.tasks.ground import localise_finding


def test_metrics_on_known_cases() -> None:
    heat = np.zeros((8, 8), np.float32)
    heat[1, 6] = 1.0  # cell centre (6.5, 1.5) * 8 = (52, 12) on a 64x64 image
    inside, outside = Box(48, 8, 56, 16), Box(0, 0, 10, 10)
    assert pointing_hit(heat, [inside], (64, 64)) and not pointing_hit(heat, [outside], (64, 64))
    assert mass_in_boxes(heat, [inside], (64, 64)) > 0.5
    assert mass_in_boxes(np.zeros((4, 4)), [inside], (64, 64)) == 0.0
    truths = [[Box(0, 0, 10, 10)], [Box(0, 0, 10, 10)]]
    perfect = [[(Box(0, 0, 10, 10), 0.9)], [(Box(0, 0, 10, 10), 0.8)]]
    assert average_precision(perfect, truths, 0.5) == pytest.approx(1.0)
    half = [[(Box(0, 0, 10, 10), 0.9)], [(Box(50, 50, 60, 60), 0.95)]]
    assert average_precision(half, truths, 0.5) == pytest.approx(0.25)
    assert box_mask([Box(0, 0, 32, 64)], (64, 64), 4)[:, :2].all()


def make_box_set(root: Path, n: int = 10) -> Path:
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        img = np.full((64, 64), 90, np.uint8)
        img[8:24, 36:56] = 230  # a bright 'lesion' in the upper image-right area
        PILImage.fromarray(img).save(root / "images" / f"t{i}.png")
        images.append({"id": i + 1, "file_name": f"t{i}.png", "width": 64, "height": 64})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1,
                     "bbox": [36, 8, 20, 16]})
    (root / "boxes.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                 "categories": [{"id": 1, "name": "x"}]}))
    return root


def test_load_box_set_and_prior(tmp_path: Path) -> None:
    samples = load_box_set(make_box_set(tmp_path), "boxes.json")
    assert len(samples) == 10 and samples[0].boxes == (Box(36, 8, 56, 24),)
    prior = location_prior(samples)
    assert prior.max() == 1.0 and prior[0, 0] == 0.0


def test_train_localiser_and_localise(tmp_path: Path) -> None:
    data = make_box_set(tmp_path / "d")
    out = tmp_path / "loc"
    assert main(["train", "localiser", "--data", str(data), "--coco", "boxes.json",
                 "--label", "Tuberculosis", "--out", str(out), "--epochs", "60",
                 "--threads", "1"]) == 0
    pixels = np.full((64, 64), 90 / 255, np.float32)
    pixels[8:24, 36:56] = 0.9
    region = localise_finding(image_from_array(pixels), "Tuberculosis", localiser=str(out))
    assert region is not None and region.kind is RegionKind.FINDING
    assert region.heatmap is not None and region.heatmap.shape == (16, 16)
    assert pointing_hit(region.heatmap, [Box(36, 8, 56, 24)], (64, 64))
    assert localise_finding(image_from_array(pixels), "Pneumonia", localiser=str(out)) is None


def test_evaluate_grounding_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_box_set(tmp_path)
    status = main(["evaluate-grounding", "--data", str(data), "--coco", "boxes.json",
                   "--systems", "centre,prior", "--folds", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and set(out["summary"]) == {"centre", "prior"}
    assert out["summary"]["prior"]["pointing"]["mean"] == 1.0
    assert out["summary"]["centre"]["pointing"]["mean"] == 0.0
    assert main(["evaluate-grounding", "--data", str(data), "--systems", "nope"]) == 2


def test_box_sample_is_plain() -> None:
    s = BoxSample("a.png", "p", (Box(0, 0, 1, 1),), (4, 4))
    assert s.size == (4, 4)
