"""Mask-guided augmentation of the lung segmenter: does a mask-conditioned generator help when
only a few real image/mask pairs are annotated?

The experiment, at the generator's side (64 px for ``radlens-gen-cxr-lungs``), per seed:

1. pick `n_real` real training films with their expert lung masks (the "few real masks");
2. deform each of their masks `per_mask` times with a random affine warp (`random_affines`:
   rotation, anisotropic scale, shear, shift) — new lung shapes, no new annotation;
3. train the same small segmenter (`LungUNet`, the bundled segmenter's architecture, ImageNet
   encoder, at the generator's side) for the same number of steps in three arms:

   - ``real``: the `n_real` real pairs only;
   - ``real + warped real``: the real pairs plus the *real images* warped with the same
     deformations (classical geometric augmentation: the strong baseline);
   - ``real + generated``: the real pairs plus images *generated* from the deformed masks (the
     same masks as the warped-real arm, so the two arms differ only in where the image comes
     from);

   each augmented arm draws half of every batch from the real pairs, half from the added pairs;
4. score Dice (union of both lungs, p > 0.5) on every real validation film.

Also, once: the segmenter trained on *all* real training pairs (the ceiling). The gain of an
arm is its per-validation-film Dice minus the ``real`` arm's, averaged over seeds, with a
bootstrap 95% CI over validation films. All figures are on the validation films of the data
spec, which neither the generator nor these segmenters saw.

Arrays: images float32 (N, S, S) in [0, 1], air dark; masks bool (N, S, S).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

Generate = Callable[[np.ndarray, int], np.ndarray]  # (masks bool (N,S,S), seed) -> images


def random_affines(n: int, rng: np.random.Generator, rotate_deg: float = 10.0,
                   scale: float = 0.1, shear: float = 0.08, shift: float = 0.08) -> np.ndarray:
    """`n` random 2x3 affine matrices (float32, `F.affine_grid` convention, normalised
    coordinates in [-1, 1]): rotation up to ±`rotate_deg` degrees, per-axis scale in
    1 ± `scale`, shear up to ±`shear`, shift up to ±`shift` of the half-side."""
    out = np.zeros((n, 2, 3), np.float32)
    for i in range(n):
        a = math.radians(rng.uniform(-rotate_deg, rotate_deg))
        sx, sy = rng.uniform(1 - scale, 1 + scale, 2)
        sh = rng.uniform(-shear, shear)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        lin = rot @ np.array([[sx, sh], [0.0, sy]])
        out[i, :, :2] = lin
        out[i, :, 2] = rng.uniform(-shift, shift, 2)
    return out


def warp(x: np.ndarray, theta: np.ndarray, *, mask: bool) -> np.ndarray:
    """Warp images or masks (N, S, S) with affines `theta` (N, 2, 3); zero outside. Masks are
    warped bilinearly and thresholded at 0.5 (bool out); images stay float32 in [0, 1]."""
    t = torch.from_numpy(np.asarray(x, np.float32))[:, None]
    grid = F.affine_grid(torch.from_numpy(theta), list(t.shape), align_corners=False)
    w = F.grid_sample(t, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    arr: np.ndarray = w[:, 0].numpy()
    return arr > 0.5 if mask else np.clip(arr, 0.0, 1.0)


def train_small_segmenter(images: np.ndarray, masks: np.ndarray,
                          extra: tuple[np.ndarray, np.ndarray] | None = None, *,
                          steps: int = 300, batch: int = 16, lr: float = 2e-3, seed: int = 0,
                          pretrained: bool = True) -> torch.nn.Module:
    """A `LungUNet` whose first output channel is trained as the union lung mask.

    `images` float32 (N, S, S) in [0, 1], `masks` bool (N, S, S) (S a multiple of 32);
    `extra`: added (images, masks) pairs — then half of each batch comes from them. Returns
    the network in eval mode."""
    from radlens.models.segmenter import LungUNet
    from radlens.train.segmenter import segmentation_loss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = LungUNet(pretrained=pretrained)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.1)
    net.train()
    for _ in range(steps):
        if extra is None:
            idx = rng.integers(0, len(images), batch)
            x, y = images[idx], masks[idx]
        else:
            half = batch // 2
            i, j = rng.integers(0, len(images), half), rng.integers(0, len(extra[0]),
                                                                    batch - half)
            x = np.concatenate([images[i], extra[0][j]])
            y = np.concatenate([masks[i], extra[1][j]])
        xt = torch.from_numpy(np.asarray(x, np.float32))[:, None]
        yt = torch.from_numpy(np.asarray(y, np.float32))[:, None]
        loss = segmentation_loss(net(xt)[:, :1], yt, torch.ones(len(yt), 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return net


def segment_dice(net: torch.nn.Module, images: np.ndarray, masks: np.ndarray,
                 batch: int = 32) -> np.ndarray:
    """Per-image Dice (N,) of the net's lung channel (p > 0.5, at the mask side) vs `masks`."""
    from radlens.synth.evaluate import dice

    preds = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(np.asarray(images[s:s + batch], np.float32))[:, None]
            lg = F.interpolate(net(x)[:, :1], size=x.shape[-2:], mode="bilinear",
                               align_corners=False)
            preds.append((lg[:, 0] > 0).numpy())
    return dice(np.concatenate(preds), masks)


def _ci(diff: np.ndarray) -> list[float]:
    """95% percentile-bootstrap CI (2,000 resamples of films) of the mean of `diff`."""
    from radlens.metrics.stats import bootstrap_ci

    est = bootstrap_ci(lambda i: float(diff[i].mean()), len(diff), n_boot=2000)
    return [est.low, est.high]


def mask_guided_augmentation(train_x: np.ndarray, train_m: np.ndarray, val_x: np.ndarray,
                             val_m: np.ndarray, generate: Generate, *, n_real: int = 25,
                             per_mask: int = 4, seeds: tuple[int, ...] = (0, 1, 2),
                             steps: int = 300, pretrained: bool = True,
                             ceiling: bool = True) -> dict[str, Any]:
    """Run the experiment of the module docstring; returns a JSON-ready dict: per arm the mean
    validation Dice (per seed and over seeds), the gains over ``real`` with 95% CIs, and the
    ceiling. `generate(masks, seed)` makes one image per mask (float32 [0, 1])."""
    n_real = min(n_real, len(train_x))
    arms = ("real", "real + warped real", "real + generated")
    per_seed: dict[str, list[np.ndarray]] = {a: [] for a in arms}
    for seed in seeds:
        rng = np.random.default_rng(1000 + seed)
        pick = rng.choice(len(train_x), n_real, replace=False)
        x, m = train_x[pick], train_m[pick]
        src = np.repeat(np.arange(n_real), per_mask)
        theta = random_affines(len(src), rng)
        w_masks = warp(m[src], theta, mask=True)
        w_images = warp(x[src], theta, mask=False)
        g_images = generate(w_masks, seed)
        extras: dict[str, tuple[np.ndarray, np.ndarray] | None] = {
            "real": None, "real + warped real": (w_images, w_masks),
            "real + generated": (g_images, w_masks)}
        for arm in arms:
            net = train_small_segmenter(x, m, extras[arm], steps=steps, seed=seed,
                                        pretrained=pretrained)
            d = segment_dice(net, val_x, val_m)
            per_seed[arm].append(d)
            log.info("seed %d, %s: validation Dice %.4f", seed, arm, d.mean())
    mean_d = {a: np.mean(per_seed[a], axis=0) for a in arms}
    out: dict[str, Any] = {
        "n_real": n_real, "added_pairs": n_real * per_mask, "seeds": list(seeds),
        "steps": steps, "n_val": len(val_x),
        "dice": {a: {"mean": float(mean_d[a].mean()),
                     "per_seed": [float(d.mean()) for d in per_seed[a]]} for a in arms},
        "gain_over_real": {}}
    for a in arms[1:]:
        diff = mean_d[a] - mean_d["real"]
        out["gain_over_real"][a] = {"mean": float(diff.mean()), "ci95": _ci(diff)}
    diff = mean_d["real + generated"] - mean_d["real + warped real"]
    out["generated_vs_warped_real"] = {"mean": float(diff.mean()), "ci95": _ci(diff)}
    if ceiling:
        net = train_small_segmenter(train_x, train_m, steps=steps, seed=0,
                                    pretrained=pretrained)
        out["ceiling_all_real"] = {"n": len(train_x),
                                   "dice_mean": float(segment_dice(net, val_x, val_m).mean())}
    out["definition"] = ("Dice of the union lung mask (p > 0.5) on the real validation films; "
                         "segmenter LungUNet (EfficientNet-Lite0 encoder, ImageNet weights) "
                         f"trained {steps} steps at the generator's side; gain CIs: bootstrap "
                         "over validation films of the seed-averaged per-film Dice difference")
    return out
