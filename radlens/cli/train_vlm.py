"""``radlens train vlm``: the ``vlm`` target of ``radlens train`` (added by `add_train_vlm`).

Run on its own with ``python -m radlens.cli.train_vlm vlm --pairs ... --out ...`` (what
``torchrun`` needs for a DDP run).
"""

from __future__ import annotations

import argparse
import sys


def add_train_vlm(sub: argparse._SubParsersAction) -> None:
    """Add the ``vlm`` target to the subparsers of ``radlens train``."""
    c = sub.add_parser(
        "vlm", help="train a vision-language dual encoder (image-text pairs)",
        description="Train the dual encoder (EfficientNet-Lite0 + frozen MiniLM, projection "
                    "heads, label-aware InfoNCE) on image-text pairs. Pair specs: "
                    "pairs:FILE.csv (image,text columns), reports:DIR (image + same-name .txt "
                    "report), flat:DIR?label=NAME, or any dataset spec (kermany:, covid:, nih:, "
                    "csv:, folder:) whose labels become templated sentences. Starting again with "
                    "the same --out resumes. Works under torchrun --nproc_per_node N.")
    c.add_argument("--pairs", action="append", required=True, metavar="SPEC",
                   help="pair source spec; repeat to mix sources")
    c.add_argument("--out", required=True, help="run folder (checkpoints, log, model)")
    c.add_argument("--size", type=int, default=128, help="input side in pixels (default 128)")
    c.add_argument("--detail", type=int, default=64,
                   help="reduce images to this side first (0: off; default 64)")
    c.add_argument("--embed-dim", type=int, default=256,
                   help="shared embedding size of both towers (default 256)")
    c.add_argument("--epochs", type=int, default=12, help="most epochs to train (default 12)")
    c.add_argument("--batch-size", type=int, default=64, help="global batch size")
    c.add_argument("--lr", type=float, default=3e-4, help="image tower learning rate")
    c.add_argument("--lr-heads", type=float, default=1e-3, help="projection heads' rate")
    c.add_argument("--freeze-blocks", type=int, default=4, help="frozen early MBConv blocks")
    c.add_argument("--variants", type=int, default=4, help="templated texts per image")
    c.add_argument("--plain-negatives", action="store_true",
                   help="plain CLIP loss: same-finding pairs are negatives too")
    c.add_argument("--val-fraction", type=float, default=0.15,
                   help="fraction of images held out for validation (default 0.15)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--max-minutes", type=float, default=0.0, help="time budget (0: none)")
    c.add_argument("--no-augment", action="store_true", help="no training augmentation")
    c.add_argument("--threads", type=int, default=2, help="torch threads per process")
    c.add_argument("--name", default="radlens-vlm", help="model name in the card")
    c.add_argument("--json", action="store_true", help="print the run summary as JSON")
    c.set_defaults(func=run_train_vlm)


def run_train_vlm(args: argparse.Namespace) -> int:
    """Train, then export (rank 0); prints where the model card is."""
    from radlens.cli.train import train_and_report
    from radlens.train.vlm import VLMConfig, train
    from radlens.vlm.export import export_run

    cfg = VLMConfig(
        pairs=tuple(args.pairs), out=args.out, size=args.size, detail=args.detail,
        embed_dim=args.embed_dim, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        lr_heads=args.lr_heads, freeze_blocks=args.freeze_blocks, variants=args.variants,
        label_aware=not args.plain_negatives, val_fraction=args.val_fraction, seed=args.seed,
        max_minutes=args.max_minutes, augment=not args.no_augment, threads=args.threads,
        name=args.name)
    return train_and_report(
        cfg, train, export_run, args.json, "validation",
        lambda card: {k: v for k, v in card["validation"].items() if k != "split"},
        "  {name}: {value:.4f}")


def main(argv: list[str] | None = None) -> int:
    """Run ``radlens train vlm`` on its own (e.g. under torchrun); returns the exit status."""
    from radlens.cli.main import error_line
    from radlens.errors import RadlensError

    parser = argparse.ArgumentParser(prog="radlens train")
    add_train_vlm(parser.add_subparsers(dest="target", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RadlensError as exc:
        print(error_line(str(exc)), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
