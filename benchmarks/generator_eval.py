"""Generator benchmark (issue 17): evaluate one bundled generator and time its sampler.

Runs `radlens.synth.evaluate.evaluate` (realism, train-on-synthetic, memorisation,
conditioning fidelity) and a separate sampling-speed measurement (`--speed-n` images at the
card's default steps and at `--speed-steps`, one torch thread, wall and CPU seconds), prints
the figures, writes them as JSON to --out and, with --write-card, stores them in the model
card under ``evaluation`` (the weights and their SHA-256 are unchanged).

    python benchmarks/generator_eval.py --model radlens-gen-pneumoniamnist \
        --data medmnist:../shared/data/medmnist/pneumoniamnist.npz --out /tmp/eval-pneu.json

Run each generator in its own process (they are independent).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch


def speed(model: str, n: int, steps: int) -> dict[str, float]:
    """Seconds per image (wall, CPU) for `n` images at `steps` DDIM steps, one batch."""
    from radlens.synth.model import load_generator, sample

    gen = load_generator(model)
    kw: dict[str, object] = {}
    if gen.conditioning == "class":
        kw["labels"] = [i % len(gen.labels) for i in range(n)]
    else:
        m = np.zeros((n, gen.size, gen.size), bool)
        m[:, gen.size // 6: -gen.size // 8, gen.size // 8: gen.size // 2 - 3] = True
        m[:, gen.size // 6: -gen.size // 8, gen.size // 2 + 3: -gen.size // 8] = True
        kw["masks"] = m
    sample(gen, 1, steps=1, **{k: v[:1] for k, v in kw.items()})  # type: ignore[index]
    w0, c0 = time.perf_counter(), time.process_time()
    sample(gen, n, steps=steps, **kw)  # type: ignore[arg-type]
    return {"steps": steps, "images": n, "size": gen.size,
            "seconds_per_image_wall": (time.perf_counter() - w0) / n,
            "seconds_per_image_cpu": (time.process_time() - c0) / n,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    """Evaluate, time, print and save; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("-n", type=int, default=0, help="generated images (default: val count, ≤512)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: card's)")
    p.add_argument("--sheet", default=None, help="PNG of the closest pairs")
    p.add_argument("--cache-dir", default=None, help="decoded chest-film cache folder")
    p.add_argument("--speed-n", type=int, default=16)
    p.add_argument("--speed-steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write-card", action="store_true",
                   help="store the figures in the bundled card under 'evaluation'")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from radlens.synth.evaluate import evaluate, format_report
    from radlens.synth.model import find_card

    t0 = time.time()
    report = evaluate(args.model, args.data, n=args.n, steps=args.steps, sheet=args.sheet,
                      cache_dir=args.cache_dir)
    report["evaluation_minutes_wall"] = round((time.time() - t0) / 60, 1)
    card = find_card(args.model)
    report["speed"] = [speed(args.model, args.speed_n, s)
                       for s in sorted({int(card["sampler"]["default_steps"]),
                                        args.speed_steps})]
    report["training"] = {"steps": card["training"]["steps"],
                          "train_minutes_wall": card["training"]["train_minutes"],
                          "parameters": card.get("parameters")}
    print(format_report(report))
    for s in report["speed"]:
        print(f"  speed: {s['steps']} steps, {s['size']} px: "
              f"{s['seconds_per_image_wall']:.3f} s/image wall, "
              f"{s['seconds_per_image_cpu']:.3f} s/image CPU ({s['threads']} thread)")
    print(f"  training: {report['training']['steps']} steps, "
          f"{report['training']['train_minutes_wall']} min wall")
    Path(args.out).write_text(json.dumps(report, indent=2))
    if args.write_card:
        path = Path(card["_path"])
        stored = json.loads(path.read_text())
        stored["evaluation"] = {k: v for k, v in report.items()
                                if k not in ("model", "model_sha256")}
        def clean(text: str) -> str:
            return text.replace("../shared/data", "<data>")

        stored["evaluation"]["data"] = clean(args.data)
        stored["evaluation"]["command"] = clean(
            "python benchmarks/generator_eval.py " + " ".join(argv or sys.argv[1:]))
        path.write_text(json.dumps(stored, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
