"""Loading vision-language models by name or path, and embedding images and texts with them.

A model is a card (JSON, ``task: "vlm"``) plus weights, found like the classifiers: a bundled
name (``radlens/weights/<name>.json``), a card path, or a run folder holding ``model.json``.
The card's ``format`` picks the loader from `FORMATS`; radlens's own dual encoder is
``"radlens-dual-encoder"``. External CLIP-style checkpoints (open_clip, BiomedCLIP, CheXzero)
plug in later by registering a loader that returns any object with the `VisionLanguageModel`
methods (``embed_pixels``, ``embed_texts``), so zero-shot, indexing and search work unchanged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from radlens.data.transforms import resize_square
from radlens.errors import ModelError
from radlens.models import registry
from radlens.models.vlm import DualEncoder

log = logging.getLogger(__name__)
TASK = "vlm"
VLM_KEYS = ("format", "image_tower", "text_tower", "embed_dim")


class VisionLanguageModel(Protocol):
    """What every loaded vision-language model offers (radlens's own or an external one)."""

    card: dict[str, Any]

    def embed_pixels(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32 unit vectors for (H, W) [0, 1] grey images (air dark)."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit vectors for texts."""
        ...

    def logit_scale(self) -> float:
        """Similarity -> logit factor (1 / temperature) used for softmax over prompts."""
        ...


def preprocess(pixels: np.ndarray, size: int, detail: int = 0) -> np.ndarray:
    """(H, W) [0, 1] -> (size, size) float32: squashed to a square; when 0 < `detail` < `size`
    first reduced to `detail` px (the resolution the model was trained to rely on) and scaled
    back up, both with antialiased bilinear interpolation."""
    if 0 < detail < size:
        pixels = resize_square(pixels, detail)
    return resize_square(pixels, size)


class DualEncoderModel:
    """radlens's dual encoder loaded for inference (CPU or the available accelerator)."""

    def __init__(self, network: DualEncoder, card: dict[str, Any], digest: str) -> None:
        self.network = network.eval()
        self.card = card
        self.digest = digest
        inp = card["image_tower"]["input"]
        self.size, self.detail = int(inp["size"]), int(inp.get("detail_size", 0))
        self.text_path: str | None = card["text_tower"].get("path")

    def logit_scale(self) -> float:
        return float(self.network.scale().detach())

    def pixels_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Preprocessed (N, 1, size, size) tensor of (H, W) [0, 1] images."""
        arr = np.stack([preprocess(im, self.size, self.detail) for im in images])
        return torch.from_numpy(arr)[:, None]

    def embed_pixels(self, images: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        out = []
        with torch.no_grad():
            for s in range(0, len(images), batch):
                x = self.pixels_tensor(images[s:s + batch])
                out.append(self.network.encode_image(x).numpy())
        return (np.concatenate(out) if out else np.zeros((0, self.network.embed_dim))
                ).astype(np.float32)

    def embed_texts(self, texts: Sequence[str], batch: int = 128) -> np.ndarray:
        from radlens.vlm.text import encode_frozen

        feats = encode_frozen(list(texts), batch, self.text_path)
        with torch.no_grad():
            return self.network.encode_text(feats).numpy().astype(np.float32)


def _load_dual_encoder(card: dict[str, Any], weights: Path, digest: str) -> DualEncoderModel:
    from safetensors.torch import load_file

    net = DualEncoder(int(card["embed_dim"]), int(card["text_tower"].get("dim", 384)),
                      pretrained=False)
    if int(card["text_tower"].get("trainable_layers", 0)):
        raise ModelError("cards with a fine-tuned text tower are not loadable yet",
                         card["_path"])
    try:
        net.load_state_dict(load_file(str(weights)))
    except (RuntimeError, OSError) as exc:
        raise ModelError(f"weights do not fit the dual encoder ({exc})", weights) from exc
    return DualEncoderModel(net, card, digest)


Loader = Callable[[dict[str, Any], Path, str], VisionLanguageModel]
FORMATS: dict[str, Loader] = {"radlens-dual-encoder": _load_dual_encoder}


def register_format(name: str, loader: Loader) -> None:
    """Register a loader for cards whose ``format`` is `name` (e.g. an open_clip checkpoint).

    `loader(card, weights_path, sha256)` returns a `VisionLanguageModel`.
    """
    FORMATS[name] = loader


def find_card(model: str | None = None) -> dict[str, Any]:
    """The card of a vision-language model: bundled name, card path or run folder.

    None picks the first bundled ``vlm`` model. `ModelError` naming the input when unknown.
    """
    if model is None:
        model = registry.default_model(TASK)
        if model is None:
            raise ModelError("no vision-language model is bundled; pass --model")
    p = Path(model).expanduser()
    card: dict[str, Any] | None = None
    if p.is_dir() and (p / "model.json").is_file():
        card = registry.read_card(p / "model.json")
    elif p.suffix == ".json" and p.is_file():
        card = registry.read_card(p)
    else:
        card = next((c for c in registry.list_cards()
                     if c["name"] == model and c["task"] == TASK), None)
    if card is None:
        names = [c["name"] for c in registry.list_cards() if c["task"] == TASK]
        raise ModelError(f"unknown vision-language model; bundled: {', '.join(names) or 'none'}"
                         " (or give a model.json path or run folder)", model)
    if card["task"] != TASK:
        raise ModelError(f"not a vision-language model card (task {card['task']!r})",
                         card["_path"])
    missing = [k for k in VLM_KEYS if k not in card]
    if missing:
        raise ModelError(f"model card lacks {', '.join(missing)}", card["_path"])
    return card


@lru_cache(maxsize=4)
def load(model: str | None = None) -> VisionLanguageModel:
    """Load a vision-language model (cached); checks the weights' SHA-256 against the card."""
    card = find_card(model)
    wpath = Path(card["_path"]).parent / card["weights"]["file"]
    if not wpath.is_file():
        raise ModelError("weights file missing", wpath)
    digest = hashlib.sha256(wpath.read_bytes()).hexdigest()
    if card["weights"].get("sha256") and digest != card["weights"]["sha256"]:
        raise ModelError("weights do not match the SHA-256 in the model card", wpath)
    loader = FORMATS.get(str(card["format"]))
    if loader is None:
        raise ModelError(f"unknown model format {card['format']!r}; known: "
                         f"{', '.join(FORMATS)}", card["_path"])
    return loader(card, wpath, digest)


def embed_files(model: VisionLanguageModel, paths: Sequence[str | Path]) -> np.ndarray:
    """(N, D) embeddings of image files (decoded with `radlens.io.load_image`)."""
    from radlens.io import load_image

    return model.embed_pixels([load_image(p).pixels for p in paths])
