"""MedMNIST-scale classifiers: the network wrapper, bundled-model loading and prediction.

A MedMNIST model is ``<name>.safetensors`` + ``<name>.json`` in ``radlens/weights`` with
``"task": "classify-medmnist"`` (a task of its own, so chest-film code paths never pick it
up). Its card's ``input`` block says what it takes: ``dims`` (2 or 3), ``channels`` (1 grey,
3 RGB), ``size`` (side in pixels), pixels in [0, 1] normalised as ``(x - mean) / std``.
Outputs are softmax class probabilities after the card's temperature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radlens.errors import DataError, ModelError
from radlens.models import backbones

TASK = "classify-medmnist"


class MedMNISTClassifier(nn.Module):
    """Backbone + normalisation: ``forward(x)`` takes (N, C, H, W) or (N, 1, D, H, W) pixels in
    [0, 1] and returns class logits (N, K)."""

    def __init__(self, backbone: str, num_classes: int, in_channels: int = 1) -> None:
        super().__init__()
        spec = backbones.get(backbone)
        self.backbone_name = backbone
        self.net: Any = backbones.build(backbone, num_classes, in_channels, pretrained=False)
        self.mean, self.std = float(spec.mean), float(spec.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


@dataclass(frozen=True, eq=False)
class LoadedMedMNIST:
    """A MedMNIST classifier ready for inference: network (eval mode), card, temperature."""

    network: MedMNISTClassifier
    card: dict[str, Any]
    temperature: float
    sha256: str

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.card["labels"])

    @property
    def input(self) -> dict[str, Any]:
        return dict(self.card["input"])

    @property
    def task_type(self) -> str:
        """The MedMNIST task: binary-class, multi-class or ordinal-regression."""
        return str(self.card["medmnist"]["task"])

    def __repr__(self) -> str:
        return (f"LoadedMedMNIST(name={self.name!r}, backbone={self.card['backbone']!r}, "
                f"labels={len(self.labels)}, input={self.input.get('dims')}-D "
                f"{self.input.get('channels')}ch {self.input.get('size')}px)")

    def predict(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """Class probabilities (N, K) for float32 images in [0, 1], channels first
        ((N, C, H, W) or (N, 1, D, H, W), as `radlens.data.medmnist.to_float` makes them)."""
        return predict_proba(self.network, images, self.temperature, batch)


def predict_proba(net: nn.Module, images: np.ndarray, temperature: float = 1.0,
                  batch: int = 256) -> np.ndarray:
    """Softmax(logits / temperature) of `net` on float images in [0, 1], in batches, no grad."""
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[s:s + batch], dtype=np.float32))
            out.append(torch.softmax(net(x) / temperature, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def find_card(model: str) -> dict[str, Any]:
    """The card of a MedMNIST model: bundled name, card path or run folder."""
    from radlens.models import registry

    return registry.find_card(model, task=TASK)


@lru_cache(maxsize=8)
def load(model: str) -> LoadedMedMNIST:
    """Load a MedMNIST classifier by bundled name, card path or run folder (cached); checks
    the weights' SHA-256 against the card. `ModelError` when unknown or mismatched."""
    from safetensors.torch import load_file

    from radlens.models.registry import verified_weights

    card = find_card(model)
    for key in ("backbone", "labels", "input", "calibration", "medmnist"):
        if key not in card:
            raise ModelError(f"MedMNIST model card lacks {key}", card["_path"])
    wpath, digest = verified_weights(card)
    net = MedMNISTClassifier(card["backbone"], len(card["labels"]),
                             int(card["input"]["channels"]))
    try:
        net.net.load_state_dict(load_file(str(wpath)))
    except (RuntimeError, OSError) as exc:
        raise ModelError(f"weights do not fit the card's backbone ({str(exc)[:300]})",
                         wpath) from exc
    net.eval()
    return LoadedMedMNIST(net, card, float(card["calibration"]["temperature"]), digest)


def image_array(path: str | Path, card_input: dict[str, Any]) -> np.ndarray:
    """One image file as a float32 (1, C, S, S) (or (1, 1, S, S, S)) array in [0, 1] for a
    model whose card ``input`` block is `card_input`.

    2-D: any raster radlens reads (PNG, JPEG, TIFF, BMP, DICOM via `radlens.io.load_image` for
    grey; Pillow for RGB), resized whole to size x size (bilinear, antialiased). A colour
    image given to a grey model is refused unless its channels are equal; a grey image given
    to an RGB model is refused. 3-D: a ``.npy`` volume (D, H, W) of uint8 (0-255) or floats
    in [0, 1], of the model's side. `DataError` naming the file otherwise.
    """
    p = Path(path)
    dims, ch, size = int(card_input["dims"]), int(card_input["channels"]), int(card_input["size"])
    if dims == 3:
        if p.suffix.lower() != ".npy":
            raise DataError(f"the model takes {size}^3 volumes as .npy arrays (D, H, W)", p)
        try:
            vol = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the volume ({exc})", p) from exc
        if vol.shape != (size, size, size):
            raise DataError(f"volume has shape {vol.shape}; the model expects "
                            f"({size}, {size}, {size})", p)
        v = vol.astype(np.float32) / (255.0 if vol.dtype == np.uint8 else 1.0)
        return np.clip(v, 0, 1)[None, None]
    if p.suffix.lower() == ".npy":
        raise DataError("a .npy array is read only by 3-D models; give an image file", p)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            mode = im.mode
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        from radlens.io import load_image

        if ch == 3:
            raise DataError(f"cannot read the image as RGB ({exc})", p) from exc
        grey = load_image(p).pixels  # DICOM and other formats radlens reads
        rgb = np.repeat(np.asarray(grey, np.float32)[..., None], 3, axis=2)
        mode = "L"
    is_colour = mode not in ("L", "I", "I;16", "F", "1", "LA") and not (
        np.allclose(rgb[..., 0], rgb[..., 1], atol=2 / 255)
        and np.allclose(rgb[..., 1], rgb[..., 2], atol=2 / 255))
    if ch == 1 and is_colour:
        raise DataError("is a colour (RGB) image but the model expects grey input", p)
    if ch == 3 and not is_colour:
        raise DataError("is a grey image but the model expects colour (RGB) input", p)
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                        align_corners=False, antialias=True).clamp(0, 1)
    arr = x.numpy()
    return arr[:, :1] if ch == 1 else arr


def classify_file(model: str, path: str | Path) -> dict[str, Any]:
    """Run a MedMNIST model on one image file: {model, file, probabilities (label -> p),
    prediction, input}. `DataError` when the file does not fit the model's modality."""
    m = load(model)
    probs = m.predict(image_array(path, m.input))[0]
    from radlens.metrics.medmnist import predictions

    k = int(predictions(probs[None], m.task_type)[0])
    return {"model": m.name, "file": str(path), "task": m.task_type,
            "probabilities": {lab: float(p) for lab, p in zip(m.labels, probs, strict=True)},
            "prediction": m.labels[k], "input": m.input,
            "modality": m.card["medmnist"].get("modality")}


def weights_digest(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
