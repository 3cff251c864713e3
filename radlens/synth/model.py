"""Conditional diffusion generators: the denoiser, its model card, loading and sampling.

A generator is ``<name>.safetensors`` + ``<name>.json`` (task ``generate``) in
``radlens/weights`` or a run folder. The denoiser is a `diffusers` ``UNet2DModel`` whose
configuration is stored in the card (``architecture.config``), so the card alone rebuilds it.

Two conditionings (card ``conditioning``):

- ``class``: a class label (index into the card's ``labels``) through the UNet's class
  embedding; index ``len(labels)`` is the *null* class used for classifier-free guidance
  (labels are dropped to it during training with probability ``p_uncond``);
- ``mask``: a binary lung mask (``size`` x ``size``, True = lung) concatenated to the noisy
  image as a second input channel (values -1 / +1).

Noise schedule (card ``scheduler``): 1000 training steps, cosine betas rescaled to zero
terminal SNR, v-prediction; sampling uses DDIM (eta 0, "trailing" timestep spacing) with a
few steps (card ``sampler.default_steps``).

Pixel convention: generated images are grey float32 in [0, 1], air dark, (N, size, size);
the network itself works on ``2 * x - 1``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from radlens.errors import DataError, ModelError

TASK = "generate"
CONDITIONINGS = ("class", "mask")
log = logging.getLogger(__name__)

# Training noise schedule (diffusers DDPMScheduler / DDIMScheduler keyword arguments).
SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "timestep_spacing": "trailing",
}


class ConditionError(DataError):
    """A conditioning input (label, mask) that the generator cannot take."""


def require_diffusers() -> ModuleType:
    """The `diffusers` module, or `MissingDependencyError` naming the ``synth`` extra."""
    from radlens.report._deps import require

    return require("diffusers", "image synthesis", "diffusers", extra="synth")


def unet_config(size: int, conditioning: str, n_classes: int = 0,
                widths: Sequence[int] | None = None) -> dict[str, Any]:
    """The ``UNet2DModel`` configuration of a generator of `size` px.

    `conditioning`: "class" (with `n_classes` real classes plus one null class) or "mask"
    (two input channels). `widths`: block widths; default (16, 32, 32) at 28 px and
    (16, 32, 48, 64) at 64 px, small enough to train on a shared CPU. No attention blocks
    (convolutions only: cheaper on a CPU at these sides).
    """
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {CONDITIONINGS}")
    if widths is None:
        widths = (16, 32, 32) if size <= 32 else (16, 32, 48, 64)
    n = len(widths)
    if size % (2 ** (n - 1)):
        raise ValueError(f"size {size} is not divisible by {2 ** (n - 1)} ({n} blocks)")
    cfg: dict[str, Any] = {
        "sample_size": size,
        "in_channels": 2 if conditioning == "mask" else 1,
        "out_channels": 1,
        "block_out_channels": list(widths),
        "down_block_types": ["DownBlock2D"] * n,
        "up_block_types": ["UpBlock2D"] * n,
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "num_class_embeds": n_classes + 1 if conditioning == "class" else None,
    }
    return cfg


def build_unet(config: dict[str, Any]) -> torch.nn.Module:
    """A freshly initialised ``UNet2DModel`` from `config` (see `unet_config`)."""
    diffusers = require_diffusers()
    net: torch.nn.Module = diffusers.UNet2DModel(**config)
    return net


def make_scheduler(kind: str, config: dict[str, Any] | None = None) -> Any:
    """A diffusers scheduler: `kind` "ddpm" (training: adds noise) or "ddim" (sampling)."""
    diffusers = require_diffusers()
    cfg = dict(SCHEDULER if config is None else config)
    if kind == "ddpm":
        cfg.pop("timestep_spacing", None)
        return diffusers.DDPMScheduler(**cfg, timestep_spacing="trailing")
    return diffusers.DDIMScheduler(**cfg, set_alpha_to_one=True)


@dataclass(frozen=True, eq=False)
class LoadedGenerator:
    """A generator ready for sampling: the denoiser (eval mode) and its card."""

    network: torch.nn.Module
    card: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def size(self) -> int:
        """Side of the generated images (and of conditioning masks) in pixels."""
        return int(self.card["output"]["size"])

    @property
    def conditioning(self) -> str:
        return str(self.card["conditioning"])

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names (index = class); () for a mask-conditioned generator."""
        return tuple(self.card.get("labels", ()))

    @property
    def default_steps(self) -> int:
        return int(self.card["sampler"]["default_steps"])

    @property
    def guidance(self) -> float:
        return float(self.card["sampler"].get("guidance_scale", 1.0))

    def __repr__(self) -> str:
        return (f"LoadedGenerator(name={self.name!r}, conditioning={self.conditioning!r}, "
                f"size={self.size}, labels={self.labels})")


def find_card(model: str) -> dict[str, Any]:
    """The card of a generator: bundled name, card path or run folder holding model.json."""
    from radlens.models import registry

    card = registry.find_card(model, task=TASK)
    for key in ("conditioning", "architecture", "scheduler", "sampler", "output"):
        if key not in card:
            raise ModelError(f"generator card lacks {key}", card["_path"])
    return card


def network_from_state(card: dict[str, Any], state: dict[str, torch.Tensor],
                       source: str | Path) -> torch.nn.Module:
    """The card's UNet with `state` loaded (float32, eval mode); `ModelError` if it does not
    fit."""
    net = build_unet(card["architecture"]["config"])
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, KeyError) as exc:
        raise ModelError(f"weights do not fit the card's network ({str(exc)[:300]})",
                         source) from exc
    net.eval()
    return net


@lru_cache(maxsize=4)
def load_generator(model: str) -> LoadedGenerator:
    """Load a generator by bundled name, card path or run folder (cached); checks the
    weights' SHA-256 against the card. `ModelError` when unknown or mismatched;
    `MissingDependencyError` when diffusers is not installed."""
    from safetensors.torch import load_file

    from radlens.models.registry import verified_weights

    card = find_card(model)
    wpath, digest = verified_weights(card)
    net = network_from_state(card, load_file(str(wpath)), wpath)
    return LoadedGenerator(net, card, digest)


def label_index(labels: Sequence[str], label: str | int, source: str = "--label") -> int:
    """Index of `label` (a class name, case-insensitive, or its index as text / int) among
    `labels`; `ConditionError` listing the model's labels otherwise."""
    names = [s.lower() for s in labels]
    text = str(label).strip()
    if text.lower() in names:
        return names.index(text.lower())
    if text.isdigit() and int(text) < len(labels):
        return int(text)
    known = ", ".join(repr(s) for s in labels) or "no labels (it is mask-conditioned)"
    raise ConditionError(f"unknown label {text!r}: the model was trained on {known}", source)


def check_mask(mask: np.ndarray, size: int, source: str | Path = "mask") -> np.ndarray:
    """A conditioning mask as bool (size, size), True = lung.

    Accepts a 2-D array of bools, of 0/1 or of 0/255 (both values need not occur); refuses
    another shape (`ConditionError` saying the size expected) and other values (not binary:
    e.g. a grey image or an antialiased mask)."""
    a = np.asarray(mask)
    if a.ndim != 2 or a.shape != (size, size):
        raise ConditionError(f"mask is {'x'.join(str(s) for s in a.shape)} px; the model "
                             f"takes {size}x{size} binary masks", source)
    if a.dtype == bool:
        return a
    values = np.unique(a)
    if set(values.tolist()) <= {0, 1}:
        return a.astype(bool)
    if set(values.tolist()) <= {0, 255}:
        return a == 255
    raise ConditionError(f"mask is not binary: it holds {len(values)} distinct values "
                         "(expected 0/255 or 0/1 only)", source)


def read_mask(path: str | Path, size: int) -> np.ndarray:
    """A mask PNG (grey or RGB with equal channels) as bool (size, size) via `check_mask`;
    no resizing, so a mask of another size is refused rather than silently resampled."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L") if im.mode != "1" else im)
    except (OSError, UnidentifiedImageError) as exc:
        raise ConditionError(f"cannot read the mask image ({exc})", p) from exc
    return check_mask(arr, size, p)


def sample(gen: LoadedGenerator, n: int, *, labels: Sequence[int] | None = None,
           masks: np.ndarray | None = None, steps: int | None = None, seed: int = 0,
           guidance: float | None = None, batch: int = 64) -> np.ndarray:
    """Generate `n` images with the DDIM sampler.

    `labels`: n class indices (class generators); `masks`: bool (n, size, size) (mask
    generators). `steps`: DDIM steps (default: the card's). `guidance`: classifier-free
    guidance scale for class generators (1: none; default: the card's). The initial noise of
    image i is drawn from a generator seeded with (seed, i), so an image does not depend on
    `batch` or `n`. Returns float32 (n, size, size) in [0, 1], air dark.
    """
    return sample_network(gen.network, gen.card, n, labels=labels, masks=masks, steps=steps,
                          seed=seed, guidance=guidance, batch=batch)


def sample_network(net: torch.nn.Module, card: dict[str, Any], n: int, *,
                   labels: Sequence[int] | None = None, masks: np.ndarray | None = None,
                   steps: int | None = None, seed: int = 0, guidance: float | None = None,
                   batch: int = 64) -> np.ndarray:
    """`sample` for a bare network and its card (used during training, before export)."""
    size = int(card["output"]["size"])
    cond = str(card["conditioning"])
    steps = int(steps or card["sampler"]["default_steps"])
    if n < 1:
        raise ConditionError(f"number of images must be at least 1 (got {n})", "-n")
    if steps < 1 or steps > int(card["scheduler"]["num_train_timesteps"]):
        raise ConditionError(f"steps must be in 1..{card['scheduler']['num_train_timesteps']} "
                             f"(got {steps})", "--steps")
    if cond == "class":
        if labels is None or len(labels) != n:
            raise ConditionError("a class generator needs one label per image", "labels")
        null = len(card["labels"])
        scale = float(card["sampler"].get("guidance_scale", 1.0) if guidance is None
                      else guidance)
    else:
        if masks is None or len(masks) != n:
            raise ConditionError("a mask generator needs one mask per image", "masks")
        null, scale = 0, 1.0
    sched = make_scheduler("ddim", card["scheduler"])
    sched.set_timesteps(steps)
    device = next(net.parameters()).device
    out = np.zeros((n, size, size), np.float32)
    net.eval()
    for start in range(0, n, batch):
        idx = range(start, min(n, start + batch))
        x = torch.stack([torch.randn(1, size, size, generator=torch.Generator().manual_seed(
            seed * 1_000_003 + i)) for i in idx]).to(device)
        cls: torch.Tensor | None = None
        extra: torch.Tensor | None = None
        if cond == "class":
            assert labels is not None
            cls = torch.tensor([int(labels[i]) for i in idx], device=device)
        else:
            assert masks is not None
            m = torch.from_numpy(np.asarray(masks[start:start + len(idx)], np.float32))
            extra = (m[:, None] * 2 - 1).to(device)
        with torch.no_grad():
            for t in sched.timesteps:
                tt = torch.full((len(idx),), int(t), device=device, dtype=torch.long)
                if cls is not None and scale != 1.0:
                    both = net(torch.cat([x, x]), torch.cat([tt, tt]),
                               class_labels=torch.cat([cls, torch.full_like(cls, null)])).sample
                    c, u = both.chunk(2)
                    pred = u + scale * (c - u)
                elif cls is not None:
                    pred = net(x, tt, class_labels=cls).sample
                else:
                    assert extra is not None
                    pred = net(torch.cat([x, extra], 1), tt).sample
                x = sched.step(pred, t, x, eta=0.0).prev_sample
        out[start:start + len(idx)] = ((x[:, 0].clamp(-1, 1) + 1) / 2).cpu().numpy()
    return out
