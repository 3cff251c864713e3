"""Partial fine-tuning on cached features: the recipe of the bundled adult classifier.

The ImageNet stem and the first `freeze_blocks` MBConv blocks of EfficientNet-Lite stay frozen
(eval mode, ImageNet batch-norm statistics); their output for every image is computed once and
cached (float16) in the cache folder, and only the remaining blocks, the 1x1 head convolution
and the linear classifier are trained. On a 2-core CPU this makes an epoch several times
cheaper than full fine-tuning, which is what makes patient-level cross-validation of the recipe
affordable. The exported network is the ordinary `FindingClassifier` (frozen part included),
so inference, Grad-CAM and the model card are unchanged.

Per epoch, each source contributes at most `max_per_source` random training images (0: all),
so the large paediatric set does not swamp the adult ones. The epoch score used for early
stopping is the *within-source* AUROC: per label, the AUROC inside each source that holds both
classes, averaged over sources and then labels, so a label whose sides come from different
collections cannot score by telling the collections apart.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radlens.data import spec as data_spec
from radlens.data.samples import Dataset, harmonise
from radlens.data.splits import assign_patients
from radlens.errors import DataError, ModelError
from radlens.metrics.classification import auroc
from radlens.models.classifier import FindingClassifier, set_threads
from radlens.train.checkpoint import load_checkpoint, log_epoch, out_of_time, save_checkpoint
from radlens.train.config import TrainConfig
from radlens.train.loop import Split, _schedule
from radlens.train.progress import EpochBar, stop_message

log = logging.getLogger(__name__)


def prefix(model: FindingClassifier, x: torch.Tensor, freeze: int) -> torch.Tensor:
    """Frozen part: [0, 1] pixels (N, 1, S, S) -> output of the first `freeze` blocks."""
    net = model.net
    h = F.relu6(net._bn0(net._conv_stem(model.normalise(x))))
    for block in net._blocks[:freeze]:
        h = block(h)
    return h


def suffix(model: FindingClassifier, h: torch.Tensor, freeze: int) -> torch.Tensor:
    """Trained part: cached features -> logits (N, L)."""
    net = model.net
    for block in net._blocks[freeze:]:
        h = block(h)
    return net.head(F.relu6(net._bn1(net._conv_head(h))))


def trainable(model: FindingClassifier, freeze: int) -> list[torch.nn.Parameter]:
    """Parameters after the frozen prefix; the prefix's parameters get requires_grad False."""
    net = model.net
    frozen = [net._conv_stem, net._bn0, *net._blocks[:freeze]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model: FindingClassifier, freeze: int) -> None:
    """Train mode for the trained part only (the frozen part keeps ImageNet BN statistics)."""
    model.train()
    net = model.net
    for module in (net._conv_stem, net._bn0, *net._blocks[:freeze]):
        module.eval()


def cache_features(model: FindingClassifier, images: np.ndarray, freeze: int, path: Path,
                   batch: int = 64, progress: bool = True) -> np.ndarray:
    """Frozen-prefix features (N, C, h, w) float16 of uint8 images (N, S, S); cached at `path`."""
    if path.is_file():
        feats: np.ndarray = np.load(path, mmap_mode="r")
        if len(feats) == len(images):
            return np.asarray(feats)
        log.warning("feature cache %s has %d rows, expected %d: recomputing", path,
                    len(feats), len(images))
    model.eval()
    chunks = []
    starts: Any = range(0, len(images), batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"features (frozen {freeze} blocks)", unit="batch",
                      file=sys.stderr)
    with torch.no_grad():
        for s in starts:
            x = torch.from_numpy(images[s:s + batch]).float().div_(255)[:, None]
            chunks.append(prefix(model, x, freeze).half().numpy())
    feats = np.concatenate(chunks)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(path)
    return feats


def within_source_auroc(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                        sources: Sequence[str]) -> dict[int, float]:
    """Per label column: mean over sources (holding both classes) of the AUROC inside the source.

    `scores`, `labels`, `mask`: (N, L); NaN for a label no source holds both classes of.
    """
    src = np.asarray(sources, dtype=object)
    out: dict[int, float] = {}
    for j in range(scores.shape[1]):
        vals = []
        for s in sorted(set(src)):
            k = (src == s) & (mask[:, j] > 0)
            y = labels[k, j]
            if len(np.unique(y)) == 2:
                vals.append(auroc(y, scores[k, j]))
        out[j] = float(np.mean(vals)) if vals else float("nan")
    return out


def epoch_indices(sources: Sequence[str], cap: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled training indices for one epoch, at most `cap` per source (0: no cap)."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sources):
        by_source[s].append(i)
    picked: list[int] = []
    for s in sorted(by_source):
        idx = np.asarray(by_source[s])
        if cap and len(idx) > cap:
            idx = rng.choice(idx, cap, replace=False)
        picked.extend(int(i) for i in idx)
    return rng.permutation(np.asarray(picked, dtype=np.int64))


def _shift(h: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Random translation of a feature batch by up to one cell (zero fill): cheap augmentation."""
    dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=rng))
    if dy == 0 and dx == 0:
        return h
    h = torch.roll(h, shifts=(dy, dx), dims=(2, 3))
    if dy:
        h[:, :, 0 if dy > 0 else -1, :] = 0
    if dx:
        h[:, :, :, 0 if dx > 0 else -1] = 0
    return h


class Features:
    """Every image of a harmonised dataset, decoded and passed through the frozen prefix."""

    def __init__(self, cfg: TrainConfig, progress: bool = True) -> None:
        self.data: Dataset = harmonise([data_spec.load(s) for s in cfg.data], cfg.labels)
        folder = Path(cfg.cache_dir or cfg.out)
        folder.mkdir(parents=True, exist_ok=True)
        key = f"{cfg.size}-{len(self.data)}"
        self.split = Split(self.data, cfg.size, folder / f"cache-all-{key}.npz", progress)
        base = FindingClassifier(cfg.backbone, len(cfg.labels), cfg.pretrained)
        blocks = len(getattr(base.net, "_blocks", ()))
        if not 0 < cfg.freeze_blocks <= blocks:
            raise ModelError(f"freeze_blocks must be in 1..{blocks} for {cfg.backbone}, "
                             f"got {cfg.freeze_blocks}")
        self.features = cache_features(
            base, self.split.images, cfg.freeze_blocks,
            folder / f"features-{cfg.backbone}-{key}-f{cfg.freeze_blocks}.npy",
            progress=progress)

    def fold_of(self, fractions: Sequence[float], seed: int) -> np.ndarray:
        """Split index of every decoded image under `assign_patients(fractions, seed)`."""
        assign = assign_patients(self.data, fractions, seed)
        return np.asarray([assign[p] for p in self.split.patients])


def fit(cfg: TrainConfig, feats: Features, train_idx: np.ndarray, val_idx: np.ndarray,
        out: Path | None, progress: bool = True) -> tuple[FindingClassifier, dict[str, Any]]:
    """Train the suffix on `train_idx`, early-stop on within-source AUROC of `val_idx`.

    With `out`, checkpoints (last.pt), ``best.pt`` and ``log.jsonl`` are written there and a
    killed run resumes. Returns (model with the best epoch's weights, training state).
    """
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    sp, x_all = feats.split, feats.features
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError("training and validation both need images", feats.data.name)
    model = FindingClassifier(cfg.backbone, len(cfg.labels), cfg.pretrained)
    params = trainable(model, cfg.freeze_blocks)
    tr_labels, tr_mask = sp.labels[train_idx], sp.mask[train_idx]
    known, pos = tr_mask.sum(0), (tr_labels * tr_mask).sum(0)
    pos_weight = torch.tensor(np.clip((known - pos) / np.maximum(pos, 1), 0.05, 20.0),
                              dtype=torch.float32)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr_sources = [sp.sources[i] for i in train_idx]
    per_epoch = len(epoch_indices(tr_sources, cfg.max_per_source, rng))
    steps = max(1, per_epoch // cfg.batch_size)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": -1, "stale": 0,
                             "history": [], "seconds": 0.0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        saved = load_checkpoint(out, model, opt, sched, torch.device("cpu"))
        if saved is not None:
            state = saved
            log.info("resuming %s after epoch %d", out, state["epoch"])
            if (out / "best.pt").is_file():
                best_state = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
        (out / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
    last_auroc: float | None = None
    while state["epoch"] < cfg.epochs and state["stale"] < cfg.patience:
        if out_of_time(state["seconds"], len(state["history"]), cfg.max_minutes):
            break
        epoch, t0 = state["epoch"], time.time()
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = train_idx[epoch_indices(tr_sources, cfg.max_per_source, rng)]
        set_train_mode(model, cfg.freeze_blocks)
        bar = EpochBar(steps, epoch, cfg.epochs, progress, last_auroc)
        for k in range(steps):
            idx = np.sort(order[k * cfg.batch_size:(k + 1) * cfg.batch_size])
            h = torch.from_numpy(x_all[idx]).float()
            if cfg.augment:
                h = _shift(h, gen)
            logits = suffix(model, h, cfg.freeze_blocks)
            y = torch.from_numpy(sp.labels[idx])
            m = torch.from_numpy(sp.mask[idx])
            bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none",
                                                     pos_weight=pos_weight)
            loss = (bce * m).sum() / m.sum().clamp(min=1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.step(loss.item())
        val_logits = predict_features(model, x_all, val_idx, cfg.freeze_blocks)
        scores = within_source_auroc(val_logits, sp.labels[val_idx], sp.mask[val_idx],
                                     [sp.sources[i] for i in val_idx])
        finite = [v for v in scores.values() if not math.isnan(v)]
        mean = float(np.mean(finite)) if finite else 0.0
        state["epoch"] = epoch + 1
        state["seconds"] += time.time() - t0
        entry = {"epoch": epoch + 1, "train_loss": bar.mean_loss,
                 "val_auroc": {cfg.labels[j]: v for j, v in scores.items()},
                 "val_auroc_mean": mean, "lr": sched.get_last_lr()[0],
                 "epoch_seconds": round(time.time() - t0, 1)}
        improved = mean > state["best"]
        if improved:
            state.update(best=mean, best_epoch=epoch + 1, stale=0)
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            state["stale"] += 1
        bar.validated(mean, state["best"], state["best_epoch"])
        last_auroc = mean
        log.info("epoch %d: loss %.4f, within-source val AUROC %.4f%s", epoch + 1,
                 entry["train_loss"], mean, " (best)" if improved else
                 f" (no gain for {state['stale']} of {cfg.patience} epochs)")
        if out is not None:
            if improved:
                torch.save(best_state, out / "best.pt")
            log_epoch(out, state, entry)
            save_checkpoint(out, model, opt, sched, state)
        else:
            state["history"].append(entry)
    log.info("%s", stop_message(state, cfg.epochs, cfg.patience))
    model.load_state_dict(best_state)
    model.eval()
    return model, state


def predict_features(model: FindingClassifier, feats: np.ndarray, idx: np.ndarray,
                     freeze: int, batch: int = 256) -> np.ndarray:
    """Logits (len(idx), L) from cached prefix features, eval mode, no gradients."""
    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            h = torch.from_numpy(np.asarray(feats[idx[s:s + batch]])).float()
            outs.append(suffix(model, h, freeze))
    if not outs:
        return np.zeros((0, model.net.num_classes), np.float32)
    return torch.cat(outs).numpy()


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) the suffix as `cfg` says, with a patient-level validation split;
    writes ``best.pt`` (full `FindingClassifier` weights) in the run folder, which
    `radlens.train.export.export_run` turns into a model. Returns the run folder."""
    if cfg.freeze_blocks <= 0:
        raise ModelError(f"freeze_blocks must be at least 1, got {cfg.freeze_blocks}")
    feats = Features(cfg, progress)
    fold = feats.fold_of((1 - cfg.val_fraction, cfg.val_fraction), cfg.seed)
    train_idx, val_idx = np.flatnonzero(fold == 0), np.flatnonzero(fold == 1)
    fit(cfg, feats, train_idx, val_idx, Path(cfg.out), progress)
    return Path(cfg.out)
