"""``radlens train classifier``: train, resume and export a finding classifier."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` (with the ``classifier`` target) to the CLI."""
    p = subparsers.add_parser("train", help="train a model (classifier, segmenter, localiser, vlm)")
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    c = sub.add_parser(
        "classifier", help="train a finding classifier",
        description="Train a finding classifier on one or more datasets. Starting again with "
                    "the same --out resumes after the last finished epoch. Works under "
                    "torchrun --nproc_per_node N (gloo DDP).")
    c.add_argument("--data", action="append", required=True, metavar="SPEC",
                   help="dataset spec KIND:PATH[?k=v&...] (kinds: folder, kermany, covid, csv, "
                        "nih, medmnist); repeat to mix datasets (medmnist: one FILE.npz, "
                        "trained on its train split, selected on its val split)")
    c.add_argument("--labels", default=None,
                   help="comma-separated label names, e.g. 'Pneumonia,No Finding' (required "
                        "except for medmnist data, whose class names come from the file)")
    c.add_argument("--out", required=True, help="run folder (checkpoints, log, model)")
    from radlens.models import backbones

    c.add_argument("--backbone", default="efficientnet-lite0", choices=backbones.names(),
                   help="image backbone (default efficientnet-lite0, ImageNet weights)")
    c.add_argument("--no-pretrained", action="store_true", help="random initial weights")
    c.add_argument("--size", type=int, default=None,
                   help="input side in pixels (default 160; medmnist: the file's side)")
    c.add_argument("--epochs", type=int, default=10, help="most epochs to train (default 10)")
    c.add_argument("--patience", type=int, default=3,
                   help="early stopping: stop after this many epochs without a validation "
                        "AUROC gain (default 3)")
    c.add_argument("--batch-size", type=int, default=32,
                   help="global batch size (default 32)")
    c.add_argument("--lr", type=float, default=1e-3,
                   help="peak learning rate (AdamW, warm-up then cosine; default 1e-3)")
    c.add_argument("--weight-decay", type=float, default=1e-4,
                   help="AdamW weight decay (default 1e-4)")
    c.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of patients held out for validation (default 0.2)")
    c.add_argument("--seed", type=int, default=0,
                   help="seed of the split, initialisation and augmentation (default 0)")
    c.add_argument("--max-minutes", type=float, default=0.0,
                   help="time budget: no epoch starts that would end after it (0: none)")
    c.add_argument("--no-augment", action="store_true", help="no training augmentation")
    c.add_argument("--threads", type=int, default=2, help="torch threads per process")
    c.add_argument("--name", default="radlens-cxr-classifier", help="model name in the card")
    c.add_argument("--freeze-blocks", type=int, default=0, metavar="K",
                   help="keep the stem and the first K backbone blocks at ImageNet weights and "
                        "train the rest on cached features (0: fine-tune everything)")
    c.add_argument("--max-per-source", type=int, default=0, metavar="N",
                   help="with --freeze-blocks: at most N training images per source per epoch")
    c.add_argument("--cache-dir", default="",
                   help="folder for decoded-image and feature caches (default: --out)")
    c.add_argument("--card-extra", default="", metavar="JSON",
                   help="JSON file of keys merged into the exported model card")
    c.add_argument("--corrupt-augment", action="store_true",
                   help="medmnist data: also corrupt half of each training batch with a random "
                        "MedMNIST-C family of the file's modality (off by default)")
    c.add_argument("--json", action="store_true", help="print the run summary as JSON")
    c.set_defaults(func=run)
    from radlens.cli.segment_eval import add_train_localiser, add_train_segmenter
    from radlens.cli.train_vlm import add_train_vlm

    add_train_segmenter(sub)
    add_train_localiser(sub)
    add_train_vlm(sub)
    from radlens.cli.synth import add_train_generator

    add_train_generator(sub)
    b = sub.add_parser(
        "bundle", help="copy an exported run into the package's bundled weights",
        description="Copy RUN/model.safetensors and RUN/model.json into radlens/weights (or "
                    "--dest) as NAME.safetensors and NAME.json, NAME being the card's name; the "
                    "card's SHA-256 is checked first. Needs a writable (editable) install.")
    b.add_argument("run", help="run folder holding model.json and model.safetensors")
    b.add_argument("--dest", default=None, help="target folder (default: radlens/weights)")
    b.set_defaults(func=run_bundle)


def run_bundle(args: argparse.Namespace) -> int:
    """``radlens train bundle RUN``: prints the two files written."""
    from radlens.train.export import bundle_run

    for path in bundle_run(args.run, args.dest):
        print(path)
    return 0


def run(args: argparse.Namespace) -> int:
    """Train, then export (rank 0); prints where the model card is."""
    from radlens.errors import DataError
    from radlens.train import frozen
    from radlens.train import medmnist as med
    from radlens.train.config import TrainConfig
    from radlens.train.export import export_run
    from radlens.train.loop import train

    medmnist = med.is_medmnist(args.data)
    if args.labels is None and not medmnist:
        raise DataError("--labels is required (except for medmnist data)", "radlens train")
    cfg = TrainConfig(
        data=tuple(args.data),
        labels=tuple(s.strip() for s in (args.labels or "").split(",") if s.strip()),
        out=args.out, backbone=args.backbone, pretrained=not args.no_pretrained,
        size=args.size if args.size is not None else (0 if medmnist else 160),
        epochs=args.epochs, patience=args.patience,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        val_fraction=args.val_fraction, seed=args.seed, max_minutes=args.max_minutes,
        threads=args.threads, augment=not args.no_augment, name=args.name,
        freeze_blocks=args.freeze_blocks, max_per_source=args.max_per_source,
        cache_dir=args.cache_dir, card_extra=args.card_extra,
        corrupt_augment=args.corrupt_augment)
    if medmnist:
        return train_and_report(
            cfg, med.train, med.export_run, args.json, "val",
            lambda card: {k: card["validation"]["metrics"][k]["value"]
                          for k in ("auc", "acc", "qwk") if k in card["validation"]["metrics"]},
            "  validation {name}: {value:.4f}")
    return train_and_report(
        cfg, frozen.train if cfg.freeze_blocks else train, export_run, args.json, "val_auroc",
        lambda card: {n: m["auroc"]["value"] for n, m in card["validation"]["metrics"].items()},
        "  {name}: validation AUROC {value:.4f}")


def train_and_report(cfg: Any, train: Callable[..., Any], export_run: Callable[[Any], Path],
                     as_json: bool, key: str, figures: Callable[[dict[str, Any]], dict[str, float]],
                     line: str) -> int:
    """Run ``train(cfg, progress=True)``; then, on rank 0 only, ``export_run(cfg)`` (-> the model
    card's path) and print a summary: card, minutes, epochs, best epoch and, under `key`, the
    named validation `figures(card)` -- as JSON with `as_json`, else one `line` (a format with
    ``{name}`` and ``{value}``) per figure. The ``radlens.train`` loggers are raised to INFO,
    so the per-epoch figures and the line saying why training stopped ("stopped early at
    epoch k (best j, ...)") reach stderr. Returns the exit status 0."""
    t0 = time.time()
    train_log = logging.getLogger("radlens.train")
    if train_log.getEffectiveLevel() > logging.INFO:  # per-epoch lines and why it stopped
        train_log.setLevel(logging.INFO)
    train(cfg, progress=True)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    card_path = export_run(cfg)
    card = json.loads(card_path.read_text())
    summary = {"card": str(card_path), "minutes": round((time.time() - t0) / 60, 2),
               "epochs": card["training"]["epochs_run"],
               "best_epoch": card["training"]["best_epoch"], key: figures(card)}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"model card: {summary['card']}  ({summary['minutes']} min, "
              f"{summary['epochs']} epochs, best {summary['best_epoch']})")
        for name, value in summary[key].items():
            print(line.format(name=name, value=float("nan") if value is None else value))
    sys.stdout.flush()
    return 0
