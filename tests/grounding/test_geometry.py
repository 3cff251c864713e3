"""Lung geometry, zones, heatmap grounding, metrics and the classical baseline (no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radlens.grounding.baseline import threshold_lungs
from radlens.grounding.heat import main_component, resample_mask
from radlens.grounding.metrics import dice, hd95
from radlens.grounding.zones import (
    ZONE_NAMES,
    make_lungs,
    mask_box,
    split_sides,
    thirds,
    zone_fractions,
)
from radlens.io import image_from_array
from radlens.schema import Box, Call, Finding, Region, RegionKind
from radlens.tasks.ground import ground_findings, map_label, phrase_zones
from radlens.tasks.segment import lung_regions, lungs_from_masks


def two_lungs(h: int = 200, w: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Rectangular 'lungs': image-left block (patient's right) and image-right block."""
    right = np.zeros((h, w), bool)
    left = np.zeros((h, w), bool)
    right[20:170, 30:130] = True
    left[40:160, 170:270] = True
    return right, left


def test_split_sides_puts_patient_right_on_image_left() -> None:
    r, lf = two_lungs()
    right, left = split_sides(r | lf)
    assert np.array_equal(right, r) and np.array_equal(left, lf)


def test_split_sides_cuts_a_single_merged_component() -> None:
    r, lf = two_lungs()
    both = r | lf
    both[80:90, 130:170] = True  # a bridge joins the lungs
    right, left = split_sides(both)
    assert right[:, :130].sum() == r.sum() and left[:, 170:].sum() == lf.sum()
    assert not (right & left).any()


def test_boxes_and_thirds() -> None:
    r, _ = two_lungs()
    assert mask_box(r) == Box(30, 20, 130, 170)
    assert mask_box(np.zeros((5, 5), bool)) is None
    assert thirds(20, 170) == (("upper", 20, 70), ("middle", 70, 120), ("lower", 120, 170))


def test_zones_and_regions() -> None:
    r, lf = two_lungs()
    lungs = lungs_from_masks(r, lf)
    assert lungs.right.status == lungs.left.status == "present"
    assert set(np.unique(lungs.zones)) == set(range(7))
    regions = lung_regions(lungs)
    assert [g.kind for g in regions].count(RegionKind.LUNG) == 2
    zones = {g.label: g.box for g in regions if g.kind is RegionKind.ZONE}
    assert len(zones) == 6
    assert zones["right lower zone"] == Box(30, 120, 130, 170)
    assert next(g for g in regions if g.label == "right lung").box == Box(30, 20, 130, 170)


@pytest.mark.parametrize("shrink", [0, 10])
def test_missing_or_small_lung_is_reported(shrink: int) -> None:
    r, lf = two_lungs()
    left = np.zeros_like(lf)
    if shrink:
        left[100:140, 200:240] = True  # about 13% of the right lung: small, not missing
    lungs = lungs_from_masks(r, left)
    assert lungs.left.status == ("small" if shrink else "missing")
    assert any("left lung" in n for n in lungs.notes)
    names = {g.label for g in lung_regions(lungs)}
    assert ("left lung" in names) == bool(shrink)
    assert "right upper zone" in names


def test_zone_fractions_follow_heat_mass() -> None:
    r, lf = two_lungs()
    lungs = lungs_from_masks(r, lf)
    heat = np.zeros((200, 300), np.float32)
    heat[130:165, 40:120] = 1.0  # inside the right lower zone
    fr = zone_fractions(heat, lungs.zones)
    assert fr[0][0] == "right lower" and fr[0][1] > 0.9
    assert zone_fractions(np.zeros((8, 8)), lungs.zones) == ()
    assert all(name in ZONE_NAMES for name, _ in fr)


def test_main_component_box_and_ground_findings() -> None:
    r, lf = two_lungs()
    lungs = lungs_from_masks(r, lf)
    heat = np.zeros((50, 75), np.float32)  # a coarse map stretched over a 200x300 image
    heat[5:12, 45:65] = 1.0   # left upper
    heat[40:43, 10:12] = 0.6  # a weaker second spot
    comp, box, frac = main_component(heat, (200, 300))
    assert box is not None and 170 <= box.x0 <= 185 and 255 <= box.x1 <= 265
    assert 15 <= box.y0 <= 25 and 0.5 < frac <= 1.0 and comp.dtype == bool
    region = Region("r1", RegionKind.FINDING, "Pneumonia", heatmap=heat, score=0.9)
    image = image_from_array(np.zeros((200, 300)))
    f_pos = Finding("Pneumonia", 0.9, 0.5, Call.POSITIVE, "m", region_ids=("r1",))
    f_neg = Finding("Pneumonia", 0.1, 0.5, Call.NEGATIVE, "m", region_ids=("r1",))
    (g,) = ground_findings(image, (f_pos,), (region,), lungs)
    assert g.id == "r1" and g.side == "left" and g.zones[0][0] == "left upper"
    assert g.mask is not None and g.box is not None
    assert ground_findings(image, (f_neg,), (region,), lungs) == ()


def test_phrases() -> None:
    assert phrase_zones("right lower lobe consolidation") == ("right lower",)
    assert phrase_zones("left sided effusion") == ("left upper", "left middle", "left lower")
    assert phrase_zones("bibasal opacities") == ()
    assert phrase_zones("opacity at both bases") == ("right lower", "left lower")
    assert map_label(("Consolidation",), ("Pneumonia", "No Finding")) == "Pneumonia"
    assert map_label(("Cardiomegaly",), ("Pneumonia", "No Finding")) is None


def test_metrics() -> None:
    a = np.zeros((40, 40), bool)
    a[10:30, 10:30] = True
    b = np.roll(a, 4, axis=1)
    assert dice(a, a) == 1.0 and dice(a, np.zeros_like(a)) == 0.0
    assert dice(a, b) == pytest.approx(2 * 16 * 20 / 800)
    assert hd95(a, a) == 0.0 and hd95(a, b) == pytest.approx(4.0, abs=0.5)
    assert math.isinf(hd95(a, np.zeros_like(a)))


def test_baseline_finds_two_lungs(chest_like: np.ndarray) -> None:
    right, left = threshold_lungs(chest_like)
    assert right.shape == chest_like.shape and right.any() and left.any()
    rb, lb = mask_box(right), mask_box(left)
    assert rb is not None and lb is not None and rb.x1 <= lb.x0


def test_resample_mask_nearest() -> None:
    m = np.zeros((4, 4), bool)
    m[:2, :2] = True
    big = resample_mask(m, (8, 8))
    assert big[:4, :4].all() and not big[4:, :].any()


def test_make_lungs_both_missing() -> None:
    z = np.zeros((20, 20), bool)
    right, left = make_lungs(z, z)
    assert right.status == left.status == "missing" and right.bands == ()
