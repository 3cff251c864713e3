"""The bundled MedMNIST models: cards, weights, figures on the shared val split (skipped when
a model or the data is absent), and that ``radlens read`` still refuses their images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.cli.main import main
from radlens.models import registry

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "medmnist"
NAMES = ("breastmnist", "pneumoniamnist", "retinamnist", "adrenalmnist3d")


def bundled(name: str) -> bool:
    return (registry.weights_dir() / f"radlens-{name}.json").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_card_and_chest_default_untouched(name: str) -> None:
    if not bundled(name):
        pytest.skip(f"radlens-{name} is not bundled")
    card = registry.find_card(f"radlens-{name}", task="classify-medmnist")
    assert card["medmnist"]["dataset"] == name
    assert {"dims", "channels", "size", "normalise"} <= set(card["input"])
    assert card["training"]["data"][0]["licences"] == {"CC BY 4.0": card["training"]["data"][0]
                                                       ["images"]}
    path = registry.weights_dir() / card["weights"]["file"]
    assert path.stat().st_size < 5_000_000
    default = registry.default_model("classify")
    assert default is None or not default.endswith("mnist")


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/medmnist")
@pytest.mark.parametrize("name", NAMES)
def test_val_figures_match_the_card(name: str) -> None:
    if not bundled(name):
        pytest.skip(f"radlens-{name} is not bundled")
    from radlens.models.medmnist_eval import evaluate

    result = evaluate(f"radlens-{name}", f"medmnist:{SHARED / (name + '.npz')}", "val",
                      n_boot=20)
    card = registry.find_card(f"radlens-{name}", task="classify-medmnist")
    for key in ("auc", "acc"):
        assert result["metrics"][key]["value"] == pytest.approx(
            card["validation"]["metrics"][key]["value"], abs=1e-6)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/medmnist")
def test_read_refuses_a_medmnist_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    img = tmp_path / "breast.png"
    Image.fromarray(np.load(SHARED / "breastmnist.npz")["val_images"][0]).save(img)
    assert main(["read", str(img), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out[0]["error"]["type"] == "QualityError"
