"""The classifier training loop: single process or torchrun DDP (gloo on CPU).

Run folder layout (`TrainConfig.out`): ``cache-<size>.npz`` (decoded, resized images),
``last.pt`` (checkpoint after every epoch: model, optimiser, schedule, epoch, best score,
history), ``best.pt`` (weights of the best validation AUROC), ``log.jsonl`` (one line per
epoch), then the exported ``model.safetensors`` + ``model.json``. Killing a run and starting it
again with the same folder resumes from ``last.pt``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from radlens.data import spec as data_spec
from radlens.data.samples import Dataset, decode_cached, harmonise
from radlens.data.splits import split_by_patient
from radlens.data.transforms import augment_batch
from radlens.errors import DataError
from radlens.metrics.classification import auroc
from radlens.models.classifier import FindingClassifier, pick_device, set_threads
from radlens.train.checkpoint import (
    epoch_shard,
    load_checkpoint,
    log_epoch,
    out_of_time,
    save_checkpoint,
    share_state,
)
from radlens.train.config import TrainConfig
from radlens.train.progress import EpochBar, stop_message

log = logging.getLogger(__name__)


class Split:
    """A decoded split: uint8 images (N, S, S), labels/mask (N, L), patient ids, sources."""

    def __init__(self, ds: Dataset, size: int, cache: Path | None, progress: bool) -> None:
        self.images, kept, _ = decode_cached(ds.samples, size, cache, progress)
        if not kept:
            raise DataError("no readable images in this split", ds.name)
        samples = [ds.samples[i] for i in kept]
        self.labels = np.stack([s.labels for s in samples])
        self.mask = np.stack([s.mask for s in samples]).astype(np.float32)
        self.patients = [s.patient_id for s in samples]
        self.sources = [s.source for s in samples]
        self.paths = [s.path for s in samples]
        self.meta = [dict(s.meta) for s in samples]

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.images[idx]).float().div_(255)[:, None]
        return x, torch.from_numpy(self.labels[idx]), torch.from_numpy(self.mask[idx])


def prepare(cfg: TrainConfig, progress: bool) -> tuple[Dataset, Split, Split]:
    """Load, harmonise, split by patient and decode the data of `cfg`."""
    data = harmonise([data_spec.load(s) for s in cfg.data], cfg.labels)
    train_ds, val_ds = split_by_patient(data, (1 - cfg.val_fraction, cfg.val_fraction),
                                        cfg.seed)
    out = Path(cfg.out)
    key = f"{cfg.size}-{cfg.seed}-{cfg.val_fraction}-{len(data)}"
    train = Split(train_ds, cfg.size, out / f"cache-train-{key}.npz", progress)
    val = Split(val_ds, cfg.size, out / f"cache-val-{key}.npz", progress)
    return data, train, val


def predict_logits(model: torch.nn.Module, split: Split, batch: int = 64) -> np.ndarray:
    """Logits (N, L) for a decoded split, in eval mode without gradients."""
    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(split), batch):
            x, _, _ = split.batch(np.arange(s, min(s + batch, len(split))))
            outs.append(model(x.to(_device(model))).float().cpu())
    return torch.cat(outs).numpy()


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def val_auroc(logits: np.ndarray, split: Split) -> dict[str, float]:
    """AUROC per label column index (as str) on known entries; NaN when one class only."""
    out = {}
    for j in range(logits.shape[1]):
        k = split.mask[:, j] > 0
        out[str(j)] = auroc(split.labels[k, j], logits[k, j])
    return out


def _schedule(cfg: TrainConfig, steps_per_epoch: int) -> Any:
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    total = max(warm + 1, cfg.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))

    return factor


def _ddp() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) a classifier as `cfg` says; returns the run folder.

    The exported model is written by `radlens.train.export.export_run` after training.
    """
    rank, world = _ddp()
    set_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    show = progress and rank == 0
    if rank == 0:
        _, tr, va = prepare(cfg, show)
    if world > 1:
        dist.barrier()
        if rank != 0:
            _, tr, va = prepare(cfg, False)
    device = pick_device() if world == 1 else torch.device("cpu")
    model = FindingClassifier(cfg.backbone, len(cfg.labels), cfg.pretrained).to(device)
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    known = tr.mask.sum(0)
    pos = (tr.labels * tr.mask).sum(0)
    pos_weight = torch.tensor(np.clip((known - pos) / np.maximum(pos, 1), 0.05, 20.0),
                              dtype=torch.float32, device=device)
    per_rank = max(1, cfg.batch_size // world)
    steps = max(1, len(tr) // (per_rank * world))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": -1, "stale": 0,
                             "history": [], "seconds": 0.0}
    saved = load_checkpoint(out, model, opt, sched, device)
    if saved is not None:
        state = saved
        if rank == 0:
            log.info("resuming %s after epoch %d", out, state["epoch"])
    (out / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
    last_auroc: float | None = None
    while state["epoch"] < cfg.epochs and state["stale"] < cfg.patience:
        epoch = state["epoch"]
        if out_of_time(state["seconds"], len(state["history"]), cfg.max_minutes):
            break
        t0 = time.time()
        net.train()
        mine, aug = epoch_shard(len(tr), steps * per_rank * world, rank, world, cfg.seed, epoch)
        bar = EpochBar(steps, epoch, cfg.epochs, show, last_auroc)
        for k in range(steps):
            x, y, m = tr.batch(mine[k * per_rank:(k + 1) * per_rank])
            if cfg.augment:
                x = augment_batch(x, aug)
            logits = net(x.to(device))
            bce = F.binary_cross_entropy_with_logits(logits, y.to(device), reduction="none",
                                                     pos_weight=pos_weight)
            m = m.to(device)
            loss = (bce * m).sum() / m.sum().clamp(min=1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.step(loss.item())
        seconds = time.time() - t0
        if rank == 0:
            scores = val_auroc(predict_logits(model, va), va)
            named = {cfg.labels[int(j)]: v for j, v in scores.items()}
            finite = [v for v in scores.values() if not math.isnan(v)]
            mean = float(np.mean(finite)) if finite else 0.0
            state["epoch"] = epoch + 1
            state["seconds"] += time.time() - t0
            entry = {"epoch": epoch + 1, "train_loss": bar.mean_loss, "val_auroc": named,
                     "val_auroc_mean": mean, "lr": sched.get_last_lr()[0],
                     "train_seconds": round(seconds, 1),
                     "epoch_seconds": round(time.time() - t0, 1)}
            if mean > state["best"]:
                state.update(best=mean, best_epoch=epoch + 1, stale=0)
                torch.save(model.state_dict(), out / "best.pt")
            else:
                state["stale"] += 1
            bar.validated(mean, state["best"], state["best_epoch"])
            last_auroc = mean
            log_epoch(out, state, entry)
            log.info("epoch %d: loss %.4f, val AUROC %.4f", epoch + 1, entry["train_loss"], mean)
            save_checkpoint(out, model, opt, sched, state)
        else:
            bar.close()
        state = share_state(state, world)
    if rank == 0:
        log.info("%s", stop_message(state, cfg.epochs, cfg.patience))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out
