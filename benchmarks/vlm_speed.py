"""Vision-language speed on this CPU: image and sentence embedding throughput, and brute-force
search latency over 100,000 stored vectors (targets: >= 40 images/s, >= 500 sentences/s,
<= 50 ms per search).

Images: 512x512 decoded grey arrays (the time includes resizing to the model's input), batches
of 64. Sentences: distinct report-style sentences (the templated label sentences, each with a
numeric suffix so none repeats), batches of 128. Search: `radlens.vlm.index.top_k` over
100,000 random unit vectors of the model's size, k = 10, one query at a time.

Usage: python benchmarks/vlm_speed.py [--model NAME] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _best_rate(fn: object, n: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv: list[str] | None = None) -> int:
    from radlens.models.classifier import set_threads
    from radlens.vlm import prompts
    from radlens.vlm.index import top_k
    from radlens.vlm.model import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    model = load(args.model)
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 1, (512, 512)).astype(np.float32) for _ in range(args.images)]
    model.embed_pixels(images[:8])  # warm-up
    img_rate = _best_rate(lambda: model.embed_pixels(images), len(images))
    table = prompts.load_templates()
    base = [s for f in table["findings"] for pos in (True, False)
            for s in prompts.phrasings(f, pos, table)]
    sentences = [f"{base[i % len(base)]} ({i})" for i in range(args.sentences)]
    model.embed_texts(sentences[:64])  # warm-up
    txt_rate = _best_rate(lambda: model.embed_texts(sentences), len(sentences))
    dim = model.embed_texts(["x"]).shape[1]
    vecs = rng.normal(size=(args.vectors, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = vecs[rng.integers(0, args.vectors, 100)] + 0.01
    times = []
    for q in queries:
        t0 = time.perf_counter()
        top_k(vecs, q, 10)
        times.append((time.perf_counter() - t0) * 1000)
    result = {"model": model.card["name"], "threads": args.threads,
              "images_per_s": round(img_rate, 1), "sentences_per_s": round(txt_rate, 1),
              "search_ms": {"vectors": args.vectors, "dim": dim,
                            "median": round(float(np.median(times)), 2),
                            "p95": round(float(np.percentile(times, 95)), 2)}}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"model {result['model']}, {args.threads} threads")
        print(f"  image embedding    {img_rate:8.1f} images/s   (target >= 40)")
        print(f"  sentence embedding {txt_rate:8.1f} sentences/s (target >= 500)")
        s = result["search_ms"]
        print(f"  search over {s['vectors']:,} x {s['dim']} vectors: median {s['median']} ms, "
              f"p95 {s['p95']} ms (target <= 50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
