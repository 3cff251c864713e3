"""Training and export of MedMNIST-scale classifiers (``radlens train classifier --data
medmnist:FILE.npz``).

Same run-folder contract as `radlens.train.loop` (``last.pt`` after every epoch, so a
killed run resumes; ``best.pt`` at the best validation AUC; ``log.jsonl``; then
``model.safetensors`` + ``model.json``), but for single-label classification: softmax
cross-entropy over the classes, the file's own ``train`` / ``val`` splits (no patient split),
model selection on the MedMNIST AUC of the ``val`` split. Calibration: one softmax
temperature fitted on ``val`` (it changes neither the arg-max nor, for two classes, which side
of 0.5 a score falls, so ACC is unaffected). The card (task ``classify-medmnist``) records the
input convention, labels, temperature, thresholds and validation figures with 95% bootstrap
CIs.

Augmentation (on unless ``--no-augment``): 2-D images get `radlens.data.transforms.
augment_batch` (small rotation, scale, shift, gamma / contrast / brightness jitter), plus a
left-right flip for ultrasound and fundus images (never for chest films); volumes get random
flips and shifts of up to 2 voxels. With ``corrupt_augment`` (``--corrupt-augment``), half
of each training batch is also passed through a random corruption of the file's modality
(`radlens.data.corruptions`) at a random severity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from radlens.data import medmnist as md
from radlens.data import spec as data_spec
from radlens.data.transforms import augment_batch
from radlens.errors import DataError, ModelError
from radlens.metrics import medmnist as mm
from radlens.metrics.subgroups import json_safe
from radlens.models import backbones
from radlens.models.classifier import set_threads
from radlens.models.medmnist import TASK, MedMNISTClassifier, predict_proba
from radlens.train.checkpoint import load_checkpoint, log_epoch, out_of_time, save_checkpoint
from radlens.train.config import TrainConfig
from radlens.train.export import add_card_extra
from radlens.train.progress import EpochBar, stop_message

log = logging.getLogger(__name__)

FLIP_OK = {"breast-us", "fundus", "ct-shape"}  # modalities where a left-right flip is harmless

INTENDED_USE = (
    "Research and education: a MedMNIST-scale classifier (28-px images) bundled to show and "
    "benchmark radlens beyond chest films. Not a diagnostic device.")
NOT_FOR = [
    "Diagnosis, screening or any clinical decision.",
    "Images of another modality, body part or resolution than the training data (the input "
    "checks refuse 3-D files for 2-D models and colour images for grey models, but cannot "
    "tell an ultrasound from a photograph).",
    "Full-resolution images: the model sees everything downsized to its input side.",
]


def is_medmnist(specs: tuple[str, ...] | list[str]) -> bool:
    """True when the data specs name MedMNIST files (``medmnist:...`` or a ``.npz`` path);
    decided from the text alone, so no other spec is touched."""
    return any(s.startswith("medmnist:") or s.partition("?")[0].lower().endswith(".npz")
               for s in specs)


def open_file(cfg: TrainConfig) -> md.MedMNISTFile:
    """The one MedMNIST file of `cfg` (`DataError` for several or mixed specs)."""
    if len(cfg.data) != 1:
        raise DataError("MedMNIST training takes exactly one medmnist:FILE.npz spec",
                        ", ".join(cfg.data))
    kind, path, opts = data_spec.parse(cfg.data[0])
    if kind != "medmnist" or set(opts) - {"split"}:
        raise DataError("expected medmnist:FILE.npz", cfg.data[0])
    f = md.open_npz(path)
    f.split("train")
    f.split("val")
    if cfg.size and cfg.size != f.info.side:
        raise DataError(f"holds {f.info.side}-px images; --size {cfg.size} does not match "
                        "(MedMNIST models train at the file's side)", path)
    return f


def labels_for(cfg_labels: tuple[str, ...], info: md.MedMNISTInfo, source: str) -> tuple[str, ...]:
    """The label names: the file's, unless `cfg_labels` is given (then it must have one name
    per class)."""
    if not cfg_labels:
        return info.labels
    if len(cfg_labels) != info.n_classes:
        raise DataError(f"--labels gives {len(cfg_labels)} names but {info.name} has "
                        f"{info.n_classes} classes ({', '.join(info.labels)})", source)
    return cfg_labels


def _augment(x: torch.Tensor, gen: torch.Generator, modality: str, dims: int) -> torch.Tensor:
    n = x.shape[0]
    if dims == 3:
        for axis in (2, 3, 4):
            flip = torch.rand(n, generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None, None], x.flip(axis), x)
        shifts = torch.randint(-2, 3, (3,), generator=gen).tolist()
        return torch.roll(x, shifts=shifts, dims=(2, 3, 4))
    x = augment_batch(x, gen, rotate_deg=10.0, scale=(0.92, 1.08), shift=0.05,
                      contrast=0.15, brightness=0.08, gamma=(0.85, 1.18))
    if modality in FLIP_OK:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def _corrupt(x: torch.Tensor, rng: np.random.Generator, modality: str) -> torch.Tensor:
    from radlens.data import corruptions

    fams = corruptions.families(modality)
    if not fams:
        return x
    arr = x.numpy().copy()
    for i in range(len(arr)):
        if rng.random() < 0.5:
            name = str(rng.choice(fams))
            sev = int(rng.integers(1, 6))
            img = np.moveaxis(arr[i], 0, -1)
            img = img[..., 0] if img.shape[-1] == 1 else img
            out = corruptions.apply(img, name, sev, modality=modality,
                                    seed=int(rng.integers(2**31)))
            arr[i] = out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0)
    return torch.from_numpy(arr)


def _schedule(cfg: TrainConfig, steps: int) -> Any:
    warm = max(1, int(cfg.warmup_epochs * steps))
    total = max(warm + 1, cfg.epochs * steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))

    return factor


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) a MedMNIST classifier as `cfg` says; returns the run folder."""
    f = open_file(cfg)
    info = f.info
    labels_for(cfg.labels, info, cfg.data[0])
    set_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    tr_img, tr_lab = f.split("train")
    va_img, va_lab = f.split("val")
    xtr = torch.from_numpy(md.to_float(tr_img, info.dims))
    ytr = torch.from_numpy(tr_lab)
    xva = md.to_float(va_img, info.dims)
    model = MedMNISTClassifier(cfg.backbone, info.n_classes, info.channels)
    steps = max(1, len(xtr) // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": -1, "stale": 0,
                             "history": [], "seconds": 0.0}
    saved = load_checkpoint(out, model, opt, sched, "cpu")
    if saved is not None:
        state = saved
        log.info("resuming %s after epoch %d", out, state["epoch"])
    (out / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))
    last: float | None = None
    while state["epoch"] < cfg.epochs and state["stale"] < cfg.patience:
        epoch = state["epoch"]
        if out_of_time(state["seconds"], len(state["history"]), cfg.max_minutes):
            break
        t0 = time.time()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(xtr), generator=gen)
        model.train()
        bar = EpochBar(steps, epoch, cfg.epochs, progress, last)
        for k in range(steps):
            idx = order[k * cfg.batch_size:(k + 1) * cfg.batch_size]
            x, y = xtr[idx], ytr[idx]
            if cfg.augment:
                x = _augment(x, gen, info.modality, info.dims)
            if cfg.corrupt_augment and info.dims == 2:
                x = _corrupt(x, rng, info.modality)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.step(loss.item())
        probs = predict_proba(model, xva)
        score = mm.auc(va_lab, probs, info.task)
        score = 0.0 if math.isnan(score) else score
        accuracy = mm.acc(va_lab, probs, info.task)
        state["epoch"] = epoch + 1
        state["seconds"] += time.time() - t0
        entry = {"epoch": epoch + 1, "train_loss": bar.mean_loss, "val_auc": score,
                 "val_acc": accuracy, "val_auroc_mean": score, "lr": sched.get_last_lr()[0],
                 "epoch_seconds": round(time.time() - t0, 1)}
        if score > state["best"]:
            state.update(best=score, best_epoch=epoch + 1, stale=0)
            torch.save(model.state_dict(), out / "best.pt")
        else:
            state["stale"] += 1
        bar.validated(score, state["best"], state["best_epoch"])
        last = score
        log_epoch(out, state, entry)
        log.info("epoch %d: loss %.4f, val AUC %.4f, ACC %.4f", epoch + 1, entry["train_loss"],
                 score, accuracy)
        save_checkpoint(out, model, opt, sched, state)
    log.info("%s", stop_message(state, cfg.epochs, cfg.patience))
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray, steps: int = 200) -> float:
    """Softmax temperature in [0.05, 20] minimising the cross-entropy of logits / T."""
    z = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(y, dtype=torch.int64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), t)
        loss.backward()
        return loss

    opt.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def export_run(cfg: TrainConfig, card_extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``model.json`` (task ``classify-medmnist``) into the run
    folder from ``best.pt``; returns the card path."""
    from radlens.metrics import classification as cm
    from radlens.train.export import portable_config

    out = Path(cfg.out)
    best = out / "best.pt"
    if not best.is_file():
        raise ModelError("no best.pt: the run has not finished an epoch yet", out)
    f = open_file(cfg)
    info = f.info
    labels = labels_for(cfg.labels, info, cfg.data[0])
    va_img, va_lab = f.split("val")
    xva = md.to_float(va_img, info.dims)
    model = MedMNISTClassifier(cfg.backbone, info.n_classes, info.channels)
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(xva[s:s + 256]))
                            for s in range(0, len(xva), 256)]).numpy()
    temp = fit_temperature(logits, va_lab)
    probs = torch.softmax(torch.from_numpy(logits) / temp, dim=1).numpy()
    figures = mm.evaluate_scores(va_lab, probs, info.task)
    figures["ece_top"] = float(cm.expected_calibration_error(
        (probs.argmax(1) == va_lab).astype(float), probs.max(1)))
    thresholds: dict[str, Any] = {}
    for k, lab in enumerate(labels):
        yk, pk = (va_lab == k).astype(float), probs[:, k]
        both = 0 < yk.sum() < len(yk)
        thresholds[lab] = {"medmnist": 0.5,
                           "youden": cm.threshold_youden(yk, pk) if both else 0.5,
                           "sens95": cm.threshold_at_sensitivity(yk, pk, 0.95) if both else 0.5,
                           "default": "medmnist"}
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    spec = backbones.get(cfg.backbone)
    n_params = sum(p.numel() for p in model.parameters())
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": TASK, "backbone": cfg.backbone,
        "parameters": n_params, "labels": list(labels),
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors"},
        "input": {"dims": info.dims, "channels": info.channels, "size": info.side,
                  "range": [0.0, 1.0],
                  "layout": "(N, 1, D, H, W)" if info.dims == 3 else "(N, C, H, W)",
                  "colour": "RGB" if info.channels == 3 else "grey",
                  "resize": "whole image to size x size, bilinear, antialiased",
                  "normalise": {"mean": spec.mean, "std": spec.std},
                  "loader": "radlens.models.medmnist.image_array"},
        "medmnist": {"dataset": info.name, "task": info.task, "modality": info.modality,
                     "description": info.description},
        "calibration": {"temperature": temp, "method": "softmax temperature on val"},
        "thresholds": thresholds,
        "decision": ("binary-class: class 1 when its probability > 0.5 (MedMNIST "
                     "evaluator); else the arg-max"),
        "training": {"config": portable_config(cfg), "data": [
            {"source": f"MedMNIST v2 {info.name} ({info.description})",
             "images": len(f.split('train')[1]), "split": "official train",
             "licences": {info.licence: len(f.split('train')[1])},
             "citation": "Yang et al., MedMNIST v2, Scientific Data 2023"}],
            "backbone_weights": spec.weights_licence, "epochs_run": len(history),
            "best_epoch": max(history, key=lambda h: h["val_auc"])["epoch"],
            "train_minutes": round(sum(h["epoch_seconds"] for h in history) / 60, 1),
            "history": history},
        "validation": {"split": "official MedMNIST val split", "n_images": len(va_lab),
                       "metrics": figures,
                       "definitions": "MedMNIST evaluator: AUC (binary: class-1 score; "
                                      "multi-class: mean one-vs-rest), ACC (0.5 / arg-max); "
                                      "95% bootstrap CIs over images (1000 resamples)"},
        "intended_use": INTENDED_USE, "not_for": NOT_FOR,
    }
    add_card_extra(card, cfg.card_extra, card_extra)
    path = out / "model.json"
    path.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False))
    log.info("exported %s (%s)", path, weights)
    return path
