"""``radlens synth``, ``radlens evaluate-generator`` and ``radlens train generator``.

``synth`` writes ``<out>/synth-00000.png`` ... (8-bit grey, air dark) and ``<out>/synth.json``
(one record per image: file, seed, steps, guidance and what conditioned it: the label, or
the mask file and its SHA-256). It refuses, with one ``radlens: ...`` line and exit status
2, a label the model was not trained on, a mask of the wrong size or not binary, ``-n`` below
1 and an output folder that exists and holds files (it never overwrites).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth`` and ``evaluate-generator`` to the CLI."""
    p = subparsers.add_parser(
        "synth", help="generate synthetic images with a bundled generator (label or mask)",
        description="Generate N images with a conditional diffusion generator: a class "
                    "generator (radlens-gen-pneumoniamnist, radlens-gen-breastmnist) takes "
                    "--label, the chest-film generator (radlens-gen-cxr-lungs) takes --mask "
                    "(a binary PNG of the model's side). Needs 'radlens[synth]' (diffusers).")
    p.add_argument("--model", required=True, help="generator name, card path or run folder")
    cond = p.add_mutually_exclusive_group(required=True)
    cond.add_argument("--label", help="class name (or index) to generate")
    cond.add_argument("--mask", help="binary lung-mask PNG (255 = lung) of the model's side")
    p.add_argument("-n", type=int, default=8, help="number of images (default 8)")
    p.add_argument("--out", required=True, help="new or empty output folder")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--steps", type=int, default=None,
                   help="DDIM sampler steps (default: the model card's)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (class models; default: the card's)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--json", action="store_true", help="print the records as JSON")
    p.set_defaults(func=run_synth)

    e = subparsers.add_parser(
        "evaluate-generator", help="judge a generator: realism, train-on-synthetic, "
                                   "memorisation, conditioning fidelity",
        description="Generate images and compare them with the real training and validation "
                    "images of --data: Fréchet distance and k-NN precision/recall in the "
                    "features of a bundled radlens classifier (next to the real-train vs "
                    "real-val floor), train-on-synthetic-test-on-real AUC (class models), "
                    "nearest-training-image distances (pixel and feature space) against the "
                    "real-val-to-train distribution with a PNG sheet of the closest pairs, and "
                    "conditioning fidelity (bundled classifier recovers the label / bundled "
                    "segmenter recovers the mask); for the mask model also mask-guided "
                    "augmentation (a small segmenter on a few real pairs, with warped copies "
                    "and with images generated from the warped masks).")
    e.add_argument("--model", required=True, help="generator name, card path or run folder")
    e.add_argument("--data", required=True, metavar="SPEC",
                   help="medmnist:FILE.npz or kermany:FOLDER (class models) or covid:FOLDER "
                        "(mask model)")
    e.add_argument("-n", type=int, default=0,
                   help="generated images (default: the number of real val images, at most "
                        "512)")
    e.add_argument("--steps", type=int, default=None, help="sampler steps (default: card's)")
    e.add_argument("--guidance", type=float, default=None, help="guidance scale (class)")
    e.add_argument("--tstr-n", type=int, default=1000,
                   help="train-on-synthetic: images per arm, real and generated (default "
                        "1000, at most the training set)")
    e.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    e.add_argument("--sheet", default=None, help="PNG of the closest generated/training pairs")
    e.add_argument("--cache-dir", default=None, help="folder for decoded chest-film caches")
    e.add_argument("--augment-real", type=int, default=25,
                   help="mask model: real image/mask pairs in the mask-guided augmentation "
                        "experiment (default 25; 0 skips it)")
    e.add_argument("--augment-steps", type=int, default=300,
                   help="mask model: training steps of each segmenter in that experiment")
    e.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=run_evaluate)


def add_train_generator(sub: argparse._SubParsersAction) -> None:
    """Add ``train generator`` under ``radlens train``."""
    g = sub.add_parser(
        "generator", help="train a conditional diffusion generator (class label or lung mask)",
        description="Train a small conditional diffusion generator (diffusers UNet2DModel, "
                    "v-prediction, DDIM sampler) on medmnist:FILE.npz or kermany:FOLDER "
                    "(by class: Kermany normal / bacterial / viral pneumonia at 64 px) or "
                    "covid:FOLDER (chest films from their lung masks). Time-budgeted; "
                    "--resume continues a run; then exports model.safetensors + model.json "
                    "into --out (radlens train bundle RUN bundles it).")
    g.add_argument("--data", required=True, metavar="SPEC",
                   help="medmnist:FILE.npz, kermany:FOLDER or covid:FOLDER")
    g.add_argument("--out", required=True, help="run folder")
    g.add_argument("--name", default="radlens-generator", help="model name in the card")
    g.add_argument("--time-budget", type=float, default=15.0, metavar="MIN",
                   help="minutes of training in total, over resumed runs (default 15; 0: none)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--max-steps", type=int, default=100_000, help="most steps (default 100000)")
    g.add_argument("--size", type=int, default=64,
                   help="side of chest films in px (default 64; MedMNIST: the file's)")
    g.add_argument("--widths", default="", help="UNet block widths, e.g. 16,32,32")
    g.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    g.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    g.add_argument("--guidance", type=float, default=2.0,
                   help="default guidance scale written to the card (default 2)")
    g.add_argument("--sample-steps", type=int, default=20,
                   help="default DDIM steps written to the card (default 20)")
    g.add_argument("--flip", action="store_true", help="random left-right flips (not chest)")
    g.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    g.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    g.add_argument("--card-extra", default="", metavar="JSON",
                   help="JSON file of keys merged into the exported card")
    g.add_argument("--json", action="store_true", help="print the run summary as JSON")
    g.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Train, export and print where the card is."""
    import logging

    from radlens.errors import DataError
    from radlens.train.generator import GeneratorConfig, export, train

    try:
        widths = tuple(int(w) for w in args.widths.split(",") if w.strip())
    except ValueError as exc:
        raise DataError("--widths takes comma-separated integers", args.widths) from exc
    cfg = GeneratorConfig(data=args.data, out=args.out, name=args.name, size=args.size,
                          widths=widths, batch_size=args.batch_size, lr=args.lr,
                          time_budget=args.time_budget, max_steps=args.max_steps,
                          guidance=args.guidance, sample_steps=args.sample_steps,
                          flip=args.flip, seed=args.seed, threads=args.threads,
                          card_extra=args.card_extra)
    train_log = logging.getLogger("radlens.train")
    if train_log.getEffectiveLevel() > logging.INFO:
        train_log.setLevel(logging.INFO)
    train(cfg, resume=args.resume, progress=True)
    card_path = export(cfg)
    card = json.loads(card_path.read_text())
    summary = {"card": str(card_path), "steps": card["training"]["steps"],
               "train_minutes": card["training"]["train_minutes"],
               "parameters": card["parameters"],
               "sampler": card["sampler"].get("measured", {})}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"model card: {summary['card']}  ({summary['steps']} steps, "
              f"{summary['train_minutes']} min, {summary['parameters']} parameters)")
    sys.stdout.flush()
    return 0


def check_out_folder(out: Path) -> None:
    """`DataError` when `out` exists and is not an empty folder (never overwrite)."""
    from radlens.errors import DataError

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError("output folder exists and is not empty (radlens synth never "
                        "overwrites; choose a new folder)", out)


def run_synth(args: argparse.Namespace) -> int:
    """Generate, write PNGs + synth.json, print one line (or the JSON records)."""
    import hashlib

    import numpy as np
    from PIL import Image

    from radlens.models.classifier import set_threads
    from radlens.synth import model as gm

    out = Path(args.out)
    if args.n < 1:
        raise gm.ConditionError(f"number of images must be at least 1 (got {args.n})", "-n")
    check_out_folder(out)
    card = gm.find_card(args.model)  # unknown model: ModelError before diffusers is loaded
    size = int(card["output"]["size"])
    labels = masks = None
    cond: dict[str, object]
    if card["conditioning"] == "class":
        if args.label is None:
            raise gm.ConditionError("a class generator takes --label, not --mask "
                                    f"(labels: {', '.join(repr(s) for s in card['labels'])})",
                                    args.model)
        k = gm.label_index(card["labels"], args.label)
        labels = [k] * args.n
        cond = {"label": card["labels"][k], "label_index": k}
    else:
        if args.mask is None:
            raise gm.ConditionError("a mask generator takes --mask (a binary PNG of "
                                    f"{size}x{size} px), not --label", args.model)
        mask = gm.read_mask(args.mask, size)
        masks = np.repeat(mask[None], args.n, axis=0)
        cond = {"mask": str(args.mask),
                "mask_sha256": hashlib.sha256(Path(args.mask).read_bytes()).hexdigest(),
                "mask_pixels": int(mask.sum())}
    set_threads(args.threads)
    gen = gm.load_generator(args.model)
    steps = int(args.steps or gen.default_steps)
    guidance = gen.guidance if args.guidance is None else float(args.guidance)
    images = gm.sample(gen, args.n, labels=labels, masks=masks, steps=steps, seed=args.seed,
                       guidance=guidance)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for i, img in enumerate(images):
        name = f"synth-{i:05d}.png"
        Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L").save(out / name)
        records.append({"file": name, "model": gen.name, "model_sha256": gen.sha256,
                        "seed": args.seed, "index": i, "steps": steps,
                        "guidance": guidance if gen.conditioning == "class" else None,
                        "size": gen.size, "synthetic": True, **cond})
    (out / "synth.json").write_text(json.dumps(records, indent=2) + "\n")
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(f"{len(records)} synthetic images in {out} (synth.json says what conditioned "
              "each)")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a generator; print the report (text or JSON)."""
    from radlens.models.classifier import set_threads
    from radlens.synth.evaluate import evaluate, format_report

    set_threads(args.threads)
    report = evaluate(args.model, args.data, n=args.n, steps=args.steps,
                      guidance=args.guidance, tstr_n=args.tstr_n, seed=args.seed,
                      sheet=args.sheet, cache_dir=args.cache_dir,
                      augment_real=args.augment_real, augment_steps=args.augment_steps)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
