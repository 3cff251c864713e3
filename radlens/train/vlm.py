"""Training the dual encoder (`radlens train vlm`): single process or torchrun DDP (gloo).

Run folder (`VLMConfig.out`): ``cache-*.npz`` (decoded images at the cache size),
``texts.pt`` (frozen MiniLM features of every distinct text), ``last.pt`` (model, optimiser,
schedule and state after every epoch), ``best.pt`` (lowest validation loss), ``log.jsonl``, then
``model.safetensors`` + ``model.json``. Starting again with the same folder resumes. The text
tower is frozen, so each distinct text is embedded once; images are cached small (``detail``
or ``size`` px) and augmented on the fly. Under DDP each process embeds its share of the batch
and the embeddings are all-gathered (with gradients), so the loss sees the whole global batch
as negatives, as a single process with the same batch size would.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from radlens.data.samples import decode_all
from radlens.data.splits import split_by_patient
from radlens.data.transforms import augment_batch
from radlens.errors import DataError
from radlens.models.classifier import set_threads
from radlens.models.vlm import DualEncoder, contrastive_loss, gather_batch
from radlens.train.checkpoint import (
    epoch_shard,
    load_checkpoint,
    log_epoch,
    out_of_time,
    save_checkpoint,
    share_state,
)
from radlens.vlm.pairs import Pair, as_dataset, load_pairs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VLMConfig:
    """Settings of one dual-encoder run.

    `pairs`: pair specs (`radlens.vlm.pairs`); `out`: run folder. `size`: model input side (px);
    `detail`: images are reduced to this side first (0: off) — use it when sources differ in
    resolution, so resolution cannot stand in for a finding. `variants`: templated texts per
    labelled image. `freeze_blocks`: frozen early MBConv blocks. `lr` (image tower) and
    `lr_heads` (projections, temperature): AdamW with warm-up + cosine. `batch_size`: global.
    `label_aware`: same-findings pairs are not negatives. `max_minutes`: no epoch starts that
    would end after this budget (0: none).
    """

    pairs: tuple[str, ...]
    out: str
    size: int = 128
    detail: int = 64
    embed_dim: int = 256
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-4
    lr_heads: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    val_fraction: float = 0.15
    freeze_blocks: int = 4
    variants: int = 4
    label_aware: bool = True
    augment: bool = True
    seed: int = 0
    max_minutes: float = 0.0
    threads: int = 2
    name: str = "radlens-vlm"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class PairSplit:
    """Decoded pairs: uint8 images, text-variant indices into the text table, group ids."""

    def __init__(self, pairs: list[Pair], side: int, cache: Path, text_index: dict[str, int],
                 group_index: dict[str, int], progress: bool) -> None:
        from radlens.data.samples import Sample

        if cache.is_file():
            z = np.load(cache, allow_pickle=False)
            self.images, kept = z["images"], [int(i) for i in z["kept"]]
        else:
            samples = [Sample(p.path, np.zeros(0), np.zeros(0, bool), p.patient_id, p.source)
                       for p in pairs]
            self.images, kept, _ = decode_all(samples, side, progress)
            np.savez(cache, images=self.images, kept=np.asarray(kept, dtype=np.int64))
        if not kept:
            raise DataError("no readable images in this split", str(cache))
        self.pairs = [pairs[i] for i in kept]
        self.texts = [[text_index[t] for t in p.texts] for p in self.pairs]
        self.groups = np.array([group_index[p.key] for p in self.pairs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def images_at(self, idx: np.ndarray, size: int, aug: torch.Generator | None) -> torch.Tensor:
        """(n, 1, size, size) float images in [0, 1], augmented when `aug` is given."""
        x = torch.from_numpy(self.images[idx]).float().div_(255)[:, None]
        if aug is not None:
            x = augment_batch(x, aug)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x

    def text_ids(self, idx: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """One text id per pair: a random variant (with `rng`) or the first."""
        return np.array([self.texts[i][int(rng.integers(len(self.texts[i])))] if rng
                         else self.texts[i][0] for i in idx], dtype=np.int64)


def prepare(cfg: VLMConfig, progress: bool) -> tuple[PairSplit, PairSplit, torch.Tensor]:
    """Load the pairs, split by patient, decode images, embed every distinct text (cached)."""
    from radlens.vlm.text import encode_frozen

    pairs = [p for spec in cfg.pairs for p in load_pairs(spec, cfg.variants, cfg.seed)]
    if len(pairs) < 4:
        raise DataError(f"only {len(pairs)} pairs; need at least 4", ", ".join(cfg.pairs))
    ds = as_dataset(pairs)
    train_ds, val_ds = split_by_patient(ds, (1 - cfg.val_fraction, cfg.val_fraction), cfg.seed)
    by_path = {p.path: p for p in pairs}
    out = Path(cfg.out)
    texts = sorted({t for p in pairs for t in p.texts})
    text_index = {t: i for i, t in enumerate(texts)}
    group_index = {k: i for i, k in enumerate(sorted({p.key for p in pairs}))}
    cache_texts = out / f"texts-{len(texts)}.pt"
    if cache_texts.is_file():
        feats = torch.load(cache_texts, weights_only=True)
    else:
        feats = encode_frozen(texts, progress=progress)
        torch.save(feats, cache_texts)
    side = cfg.detail if 0 < cfg.detail < cfg.size else cfg.size
    key = f"{side}-{cfg.seed}-{cfg.val_fraction}-{len(pairs)}"
    splits = []
    for name, part in (("train", train_ds), ("val", val_ds)):
        sel = [by_path[s.path] for s in part.samples]
        splits.append(PairSplit(sel, side, out / f"cache-{name}-{key}.npz", text_index,
                                group_index, progress))
    return splits[0], splits[1], feats


def _ddp() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def evaluate(model: DualEncoder, split: PairSplit, feats: torch.Tensor, size: int,
             batch: int = 128) -> dict[str, float]:
    """Validation loss (label-aware, whole split as one batch) and image->text R@1 by key."""
    model.eval()
    with torch.no_grad():
        img = torch.cat([model.encode_image(split.images_at(np.arange(s, min(s + batch,
                         len(split))), size, None)) for s in range(0, len(split), batch)])
        txt = model.encode_text(feats[split.text_ids(np.arange(len(split)), None)])
        groups = torch.from_numpy(split.groups)
        loss = contrastive_loss(img, txt, model.scale(), groups).item()
        top = (img @ txt.t()).argmax(1).numpy()
    agree = float(np.mean(split.groups[top] == split.groups))
    return {"val_loss": loss, "val_top1_finding_agreement": agree}


def train(cfg: VLMConfig, progress: bool = True) -> Path:
    """Train (or resume) a dual encoder as `cfg` says; returns the run folder."""
    rank, world = _ddp()
    set_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    show = progress and rank == 0
    if rank == 0:
        tr, va, feats = prepare(cfg, show)
    if world > 1:
        dist.barrier()
        if rank != 0:
            tr, va, feats = prepare(cfg, False)
    model = DualEncoder(cfg.embed_dim, feats.shape[1], True, cfg.freeze_blocks)
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    per_rank = max(2, cfg.batch_size // world)
    steps = max(1, len(tr) // (per_rank * world))
    heads = [p for n, p in model.named_parameters() if not n.startswith("image.")]
    tower = [p for n, p in model.named_parameters() if n.startswith("image.") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": tower, "lr": cfg.lr},
                             {"params": heads, "lr": cfg.lr_heads}],
                            weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup_epochs * steps))
    total = max(warm + 1, cfg.epochs * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else
                                              0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm)
                                                                  / (total - warm)))))
    state: dict[str, Any] = {"epoch": 0, "best": math.inf, "best_epoch": -1, "history": [],
                             "seconds": 0.0}
    saved = load_checkpoint(out, model, opt, sched)
    if saved is not None:
        state = saved
        log.info("resuming %s after epoch %d", out, state["epoch"])
    (out / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        if out_of_time(state["seconds"], len(state["history"]), cfg.max_minutes):
            break
        t0 = time.time()
        net.train()
        mine, aug = epoch_shard(len(tr), steps * per_rank * world, rank, world, cfg.seed, epoch)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch * 31 + rank)
        total_loss = 0.0
        bar: Any = range(steps)
        if show:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", file=sys.stderr)
        for k in bar:
            idx = mine[k * per_rank:(k + 1) * per_rank]
            x = tr.images_at(idx, cfg.size, aug if cfg.augment else None)
            img, txt = net(x, feats[tr.text_ids(idx, rng)])
            groups = torch.from_numpy(tr.groups[idx]) if cfg.label_aware else None
            if world > 1:
                img, txt, groups = gather_batch(img, txt, groups)
            loss = contrastive_loss(img, txt, model.scale(), groups)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
        if rank == 0:
            scores = evaluate(model, va, feats, cfg.size)
            state["epoch"] = epoch + 1
            state["seconds"] += time.time() - t0
            entry = {"epoch": epoch + 1, "train_loss": total_loss / steps, **scores,
                     "temperature": 1 / float(model.scale().detach()),
                     "epoch_seconds": round(time.time() - t0, 1)}
            if scores["val_loss"] < state["best"]:
                state.update(best=scores["val_loss"], best_epoch=epoch + 1)
                torch.save(model.state_dict(), out / "best.pt")
            log_epoch(out, state, entry)
            log.info("epoch %d: loss %.4f, val %s", epoch + 1, entry["train_loss"], scores)
            save_checkpoint(out, model, opt, sched, state)
        state = share_state(state, world)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out
