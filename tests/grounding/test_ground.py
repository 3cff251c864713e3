"""`radlens.tasks.ground.ground` end to end (tiny models) and the lung drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from radlens.io import image_from_array
from radlens.render.lungs import draw_lungs, render_lungs
from radlens.schema import Call, RegionKind
from radlens.tasks.ground import ground
from radlens.tasks.segment import lung_regions, lungs_from_masks
from tests.grounding.test_geometry import two_lungs


def test_ground_maps_phrase_to_finding(tiny_classifier: Path, tiny_model: Path,
                                       chest_like: np.ndarray) -> None:
    image = image_from_array(chest_like)
    res = ground(image, "right lower lobe consolidation", model=str(tiny_classifier),
                 segmenter=str(tiny_model))
    assert res.labels == ("Consolidation",)
    assert res.finding is not None and res.finding.label == "Pneumonia"
    assert res.finding.call in tuple(Call)
    assert res.phrase_zones == ("right lower",) and res.method == "grad-cam"
    (region,) = res.regions
    assert region.kind is RegionKind.FINDING and region.heatmap is not None
    assert res.finding.region_ids == (region.id,)
    assert res.agreement is None or 0.0 <= res.agreement <= 1.0
    assert any("mapped" in n for n in res.notes)


def test_ground_unmapped_phrase(tiny_classifier: Path, tiny_model: Path,
                                chest_like: np.ndarray) -> None:
    res = ground(image_from_array(chest_like), "cardiomegaly", model=str(tiny_classifier),
                 segmenter=str(tiny_model))
    assert res.finding is None and res.regions == () and res.method == "none"
    assert "Cardiomegaly" in res.notes[0]


def test_render_lungs(tmp_path: Path) -> None:
    r, lf = two_lungs()
    pixels = np.full(r.shape, 0.7, np.float32)
    pixels[r | lf] = 0.2
    regions = lung_regions(lungs_from_masks(r, lf))
    out = tmp_path / "lungs.png"
    render_lungs(image_from_array(pixels), regions, out)
    png = np.asarray(PILImage.open(out).convert("RGB"))
    assert png.shape == (200, 300, 3)
    green = (png[..., 1] > 200) & (png[..., 0] < 100)
    assert green[:, :150].any() and green[:, 150:].any()  # both outlines drawn
    rgb = np.zeros((100, 150, 3), np.uint8)
    assert draw_lungs(rgb, regions, 0.5).shape == rgb.shape
