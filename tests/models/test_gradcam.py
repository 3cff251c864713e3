"""Grad-CAM maps and the FINDING regions built from them."""

from __future__ import annotations

import numpy as np
import torch

from radlens.models.classifier import FindingClassifier
from radlens.models.gradcam import grad_cam
from radlens.schema import RegionKind
from radlens.tasks.classify import heat_region


def test_grad_cam_shape_range_and_labels() -> None:
    torch.manual_seed(0)
    model = FindingClassifier("efficientnet-lite0", 3, pretrained=False).eval()
    maps = grad_cam(model, torch.rand(1, 1, 64, 64), [0, 2], upsample=16)
    assert set(maps) == {0, 2}
    for m in maps.values():
        assert m.shape == (16, 16) and m.dtype == np.float32
        assert 0 <= m.min() and m.max() <= 1
    raw = grad_cam(model, torch.rand(1, 1, 64, 64), [1], upsample=0)[1]
    assert raw.shape == (2, 2)
    assert grad_cam(model, torch.rand(1, 1, 64, 64), []) == {}


def test_heat_region_box_and_patient_side() -> None:
    heat = np.zeros((4, 4), np.float32)
    heat[1:3, 0] = 1.0  # image left = patient's right
    region = heat_region(heat, "Pneumonia", 0.9, width=400, height=200)
    assert region.kind is RegionKind.FINDING and region.side == "right"
    assert region.box is not None
    assert (region.box.x0, region.box.y0, region.box.x1, region.box.y1) == (0, 50, 100, 150)
    heat2 = np.ones((4, 4), np.float32)
    assert heat_region(heat2, "Pneumonia", 0.9, 4, 4).side is None
