"""The bundled lung segmenter on real held-out development images (needs ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.grounding.data import load_mask_set, side_masks, split
from radlens.grounding.metrics import dice
from radlens.io import load_image
from radlens.models.segmenter import default_segmenter, load_segmenter
from radlens.tasks.segment import lung_regions, segment_lungs


@pytest.fixture(scope="module")
def held_out(shared_data: Path) -> list:
    if default_segmenter() is None:
        pytest.skip("no bundled segmenter")
    cfg = load_segmenter().card["training"]["config"]
    samples = load_mask_set(shared_data / "covid-cxr")
    return split(samples, cfg["folds"], cfg["fold"], cfg["seed"])[1]


def test_bundled_segmenter_on_held_out_patients(held_out: list) -> None:
    samples = [s for s in held_out if "full" in s.masks][:3]
    for s in samples:
        image = load_image(s.image)
        res = segment_lungs(image)
        ref = side_masks(s.masks["full"])
        assert res.right.mask.shape == image.pixels.shape
        # patient's right lung = image left: its box lies left of the left lung's
        assert res.right.box is not None and res.left.box is not None
        assert res.right.box.x0 < res.left.box.x0
        assert dice(res.right.mask, ref[0]) > 0.9 and dice(res.left.mask, ref[1]) > 0.9
        assert len(lung_regions(res)) == 8
