"""Train a conditional diffusion generator (``radlens train generator``) and export it.

Run folder (`GeneratorConfig.out`): ``config.json``, ``last.pt`` (resumable checkpoint:
network, EMA network, optimiser, schedule, step, seconds trained, loss history; written
atomically every `checkpoint_seconds` and at the end), ``log.jsonl`` (mean loss every
`log_every` steps), then ``model.safetensors`` (the EMA weights, float16) + ``model.json``
(the card, task ``generate``). ``radlens train bundle RUN`` copies both into
``radlens/weights``.

Objective: v-prediction MSE on the diffusers DDPM schedule of `radlens.synth.model`
(timesteps uniform in 0..999). Class generators drop the label to the null class with
probability `p_uncond` (classifier-free guidance). Time budget: `time_budget` minutes of
training in total over all resumed runs; training stops at the first step past it (or at
`max_steps`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radlens.errors import DataError, ModelError

log = logging.getLogger(__name__)

LAST = "last.pt"
INTENDED_USE = (
    "Research: synthetic images for studying augmentation, train-on-synthetic evaluation and "
    "memorisation checks with radlens. Generated images are not real patients and must never "
    "be presented as real data.")
NOT_FOR = [
    "Diagnosis, clinical decisions, or any claim about a real patient.",
    "Passing synthetic images off as real data, or as de-identified copies of real images.",
    "Anything beyond the training data's resolution and domain (28-px MedMNIST images; 64-px "
    "chest films: adult frontal films from one public collection, or paediatric films of the "
    "Kermany set; the card's training data says which).",
]


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of one generator run (each has a ``radlens train generator`` flag).

    `data`: ``medmnist:FILE.npz``, ``kermany:FOLDER`` (class labels) or ``covid:FOLDER``
    (lung masks) (`radlens.synth.data`); `size`: side of chest films in px (MedMNIST: the
    file's side); `widths`: UNet block widths (empty: the default
    of `radlens.synth.model.unet_config`); `batch_size`, `lr` (AdamW, linear warm-up over
    `warmup_steps`, then constant), `ema` (EMA decay, warmed up as min(ema, (1+k)/(10+k)));
    `time_budget`: minutes of training in total (0: none); `max_steps`; `p_uncond`: label
    dropout; `guidance`, `sample_steps`: the sampler defaults written to the card; `flip`:
    random left-right flips (off for chest films).
    """

    data: str
    out: str
    name: str = "radlens-generator"
    size: int = 64
    widths: tuple[int, ...] = ()
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 100
    ema: float = 0.995
    time_budget: float = 15.0
    max_steps: int = 100_000
    p_uncond: float = 0.1
    guidance: float = 2.0
    sample_steps: int = 20
    flip: bool = False
    seed: int = 0
    threads: int = 1
    checkpoint_seconds: float = 60.0
    log_every: int = 50
    card_extra: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


def _tensors(cfg: GeneratorConfig, progress: bool = False
             ) -> tuple[Any, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(GenData, training images (N, 1, S, S) in [-1, 1], class labels (N,) int64 or None,
    masks (N, 1, S, S) in {-1, 1} or None); chest films decoded into ``<out>/cache-*.npz``
    with a progress bar when `progress`."""
    from radlens.synth.data import load

    data = load(cfg.data, cfg.size, Path(cfg.out) / "cache", progress=progress)
    x = torch.from_numpy(data.train_images.astype(np.float32) / 127.5 - 1.0)[:, None]
    y = None if data.train_labels is None else torch.from_numpy(data.train_labels)
    m = None if data.train_masks is None else (
        torch.from_numpy(data.train_masks.astype(np.float32))[:, None] * 2 - 1)
    return data, x, y, m


def _card_skeleton(cfg: GeneratorConfig, data: Any) -> dict[str, Any]:
    from radlens.synth.model import SCHEDULER, TASK, unet_config

    arch = unet_config(data.side, data.conditioning, len(data.labels),
                       cfg.widths or None)
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": TASK, "conditioning": data.conditioning,
        "labels": list(data.labels),
        "architecture": {"library": "diffusers", "class": "UNet2DModel", "config": arch},
        "scheduler": dict(SCHEDULER),
        "sampler": {"kind": "DDIM", "eta": 0.0, "default_steps": cfg.sample_steps,
                    "guidance_scale": cfg.guidance if data.conditioning == "class" else 1.0,
                    "null_class": len(data.labels) if data.conditioning == "class" else None},
        "output": {"size": data.side, "channels": 1, "range": [0.0, 1.0], "colour": "grey",
                   "convention": "air / background dark (as radlens.io.load_image)",
                   "layout": "(N, H, W)"},
    }
    if data.conditioning == "mask":
        card["condition"] = {
            "mask": {"size": data.side, "values": "binary PNG, 255 (or 1) = lung, 0 = not",
                     "meaning": "union of both lungs; the v7labs full-lung-field convention "
                                "where the film had one, else lungVAE's visible lung",
                     "resize": "films and masks resized whole (stretch) to the side"}}
    else:
        card["condition"] = {"label": {"names": list(data.labels),
                                       "null_class": len(data.labels)}}
    return card


def _save(out: Path, payload: dict[str, Any]) -> None:
    tmp = out / "last.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, out / LAST)


def train(cfg: GeneratorConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or, with `resume`, continue) a generator as `cfg` says; returns the run folder.

    `DataError` when the run folder already holds a checkpoint and `resume` is False (a run
    is never overwritten silently), or when `resume` is asked but there is no checkpoint."""
    from tqdm import tqdm

    from radlens.models.classifier import set_threads
    from radlens.synth.model import build_unet, make_scheduler

    out = Path(cfg.out)
    if (out / LAST).is_file() and not resume:
        raise DataError("the run folder already holds a checkpoint (last.pt): pass --resume "
                        "to continue it, or choose another --out", out)
    if resume and not (out / LAST).is_file():
        raise DataError("--resume: the run folder holds no checkpoint (last.pt)", out)
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    data, x, y, m = _tensors(cfg, progress)
    card = _card_skeleton(cfg, data)
    net = build_unet(card["architecture"]["config"])
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    noise_sched = make_scheduler("ddpm", card["scheduler"])
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "history": []}
    if resume:
        ck = torch.load(out / LAST, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        state = ck["state"]
        log.info("resuming %s at step %d (%.1f min trained)", out, state["step"],
                 state["seconds"] / 60)
    (out / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
    budget = cfg.time_budget * 60 if cfg.time_budget > 0 else float("inf")
    n = len(x)
    null = len(data.labels)
    bar: Any = tqdm(total=cfg.max_steps, initial=state["step"], desc=cfg.name, unit="step",
                    file=sys.stderr, disable=not progress, dynamic_ncols=True)
    run_loss, run_k = 0.0, 0
    t_last_ck = time.time()

    def checkpoint() -> None:
        _save(out, {"model": net.state_dict(), "ema": ema.state_dict(),
                    "opt": opt.state_dict(), "sched": sched.state_dict(), "state": state})

    net.train()
    while state["step"] < cfg.max_steps and state["seconds"] < budget:
        t0 = time.time()
        step = state["step"]
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
        x0 = x[idx]
        if cfg.flip:
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(idx),),
                          generator=gen)
        noisy = noise_sched.add_noise(x0, noise, t)
        target = noise_sched.get_velocity(x0, noise, t)
        if m is not None:
            mk = m[idx]
            if cfg.flip:
                mk = torch.where(flip[:, None, None, None], mk.flip(3), mk)
            pred = net(torch.cat([noisy, mk], 1), t).sample
        else:
            assert y is not None
            labels = y[idx].clone()
            labels[torch.rand(len(idx), generator=gen) < cfg.p_uncond] = null
            pred = net(noisy, t, class_labels=labels).sample
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters(), strict=True):
                pe.lerp_(pn, 1 - decay)
        state["step"] = step + 1
        state["seconds"] += time.time() - t0
        run_loss += float(loss.item())
        run_k += 1
        bar.update(1)
        if run_k % 10 == 1:
            bar.set_postfix({"loss": f"{run_loss / run_k:.4f}",
                             "min": f"{state['seconds'] / 60:.1f}"}, refresh=False)
        if state["step"] % cfg.log_every == 0:
            entry = {"step": state["step"], "loss": run_loss / run_k,
                     "minutes": round(state["seconds"] / 60, 2)}
            state["history"].append(entry)
            with (out / "log.jsonl").open("a") as fh:
                fh.write(json.dumps(entry) + "\n")
            run_loss, run_k = 0.0, 0
        if time.time() - t_last_ck > cfg.checkpoint_seconds:
            checkpoint()
            t_last_ck = time.time()
    bar.close()
    checkpoint()
    why = ("the time budget" if state["seconds"] >= budget else f"max_steps {cfg.max_steps}")
    log.info("stopped at step %d after %.1f min of training (%s)", state["step"],
             state["seconds"] / 60, why)
    return out


def export(cfg: GeneratorConfig, time_sampling: bool = True) -> Path:
    """Write ``model.safetensors`` (EMA weights, float16) and ``model.json`` (the card) into
    the run folder from ``last.pt``; returns the card path. With `time_sampling`, the card's
    sampler block records measured seconds per image (wall and CPU) for 8 images at the
    default steps, on this machine, one thread."""
    from safetensors.torch import save_file

    from radlens.metrics.subgroups import json_safe
    from radlens.synth.model import network_from_state, sample_network
    from radlens.train.export import add_card_extra

    out = Path(cfg.out)
    if not (out / LAST).is_file():
        raise ModelError("no last.pt: the run has not trained yet", out)
    ck = torch.load(out / LAST, map_location="cpu", weights_only=False)
    state = ck["state"]
    from radlens.synth.data import load

    data = load(cfg.data, cfg.size, out / "cache", progress=False)
    card = _card_skeleton(cfg, data)
    weights = out / "model.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in ck["ema"].items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    net = network_from_state(card, {k: v for k, v in ck["ema"].items()}, weights)
    n_params = sum(p.numel() for p in net.parameters())
    card.update({
        "parameters": n_params,
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors",
                    "dtype": "float16 (EMA weights; loaded as float32)"},
        "training": {"config": _portable(cfg), "data": [data.source],
                     "steps": state["step"], "train_minutes": round(state["seconds"] / 60, 1),
                     "objective": "v-prediction MSE, DDPM timesteps uniform in 0..999",
                     "ema_decay": cfg.ema, "history": state["history"],
                     "machine": f"CPU, {cfg.threads} torch thread(s), shared with other jobs "
                                "(niced): minutes are wall time"},
        "intended_use": INTENDED_USE, "not_for": NOT_FOR,
    })
    if time_sampling:
        k = 8
        labels = [i % max(1, len(data.labels)) for i in range(k)] if data.labels else None
        masks = None if data.val_masks is None else data.val_masks[:k]
        if masks is not None and len(masks) < k:
            k = len(masks)
        w0, c0 = time.perf_counter(), time.process_time()
        sample_network(net, card, k, labels=labels, masks=masks)
        card["sampler"]["measured"] = {
            "images": k, "steps": cfg.sample_steps,
            "seconds_per_image_wall": round((time.perf_counter() - w0) / k, 4),
            "seconds_per_image_cpu": round((time.process_time() - c0) / k, 4),
            "threads": torch.get_num_threads()}
    add_card_extra(card, cfg.card_extra)
    path = out / "model.json"
    path.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False))
    log.info("exported %s (%s, %d parameters)", path, weights, n_params)
    return path


def _portable(cfg: GeneratorConfig) -> dict[str, Any]:
    """The config for the card with the data root written ``<data>`` and no run folder."""
    from radlens.paths import data_root

    d = cfg.as_dict()
    roots = {str(data_root()), str(data_root().resolve()), "../shared/data"}
    for root in sorted(roots, key=len, reverse=True):
        d["data"] = d["data"].replace(root, "<data>")
    d["out"] = "<run>"
    return d
