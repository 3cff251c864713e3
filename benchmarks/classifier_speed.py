"""Classifier speed on this CPU: single-image latency and batch throughput vs a DenseNet-121 peer.

The bundled model (or a random-weights EfficientNet-Lite0 when none is bundled) runs at its own
input size; the peer is a plain-PyTorch DenseNet-121 with 1 input channel and 18 outputs (the
architecture torchxrayvision ships) with random weights at 224 px. Both run in this process
with the same thread count. Latency is the median of `--repeats` single-image forward passes
(model only, preprocessed tensor); throughput is images/s over `--seconds` of passes of 1, 2,
4, ... 32 images (each model's best pass size is reported, and ours at the pass size the
Reader uses on a CPU, `radlens.models.classifier.CPU_MICRO_BATCH`).

    python benchmarks/classifier_speed.py [--threads 2] [--repeats 30] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from radlens.models import registry
from radlens.models.classifier import CPU_MICRO_BATCH
from radlens.models.densenet import DenseNet121
from radlens.models.efficientnet import EfficientNetLite

SWEEP = (1, 2, 4, 8, 16, 32)


def _latency_ms(model: torch.nn.Module, size: int, repeats: int) -> float:
    x = torch.rand(1, 1, size, size)
    times = []
    with torch.no_grad():
        for _ in range(3):
            model(x)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _throughput(model: torch.nn.Module, size: int, batch: int, seconds: float) -> float:
    """Images/s over `seconds` of passes of `batch` images."""
    x = torch.rand(batch, 1, size, size)
    with torch.no_grad():
        model(x)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            model(x)
            n += batch
    return n / (time.perf_counter() - t)


def _sweep(model: torch.nn.Module, size: int, seconds: float) -> dict[int, float]:
    return {b: round(_throughput(model, size, b, seconds), 1) for b in SWEEP}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="seconds of passes per batch size (default 3)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = registry.default_model("classify")
    if name:
        loaded = registry.load(name)
        ours, size, label = loaded.network.eval(), loaded.size, name
    else:
        ours, size, label = EfficientNetLite(2, 1).eval(), 224, "efficientnet-lite0 (random)"
    peer = DenseNet121(num_classes=18, in_channels=1).eval()
    rows: dict[str, dict[str, Any]] = {}
    for key, model, s in ((label, ours, size), ("densenet121-1ch-18 (peer)", peer, 224)):
        sweep = _sweep(model, s, args.seconds)
        best = max(sweep, key=lambda b: sweep[b])
        rows[key] = {"input_px": s, "latency_ms": round(_latency_ms(model, s, args.repeats), 1),
                     "images_per_s_by_pass_size": sweep, "best_pass_size": best,
                     "throughput_img_s": sweep[best]}
    # what the Reader runs: passes of CPU_MICRO_BATCH images whatever its batch_size
    rows[label]["reader_pass_size"] = CPU_MICRO_BATCH
    rows[label]["reader_throughput_img_s"] = rows[label]["images_per_s_by_pass_size"][
        CPU_MICRO_BATCH]
    ours_row, peer_row = rows[label], rows["densenet121-1ch-18 (peer)"]
    result = {"threads": args.threads, "models": rows,
              "latency_ratio_peer_over_ours": round(peer_row["latency_ms"]
                                                    / ours_row["latency_ms"], 2),
              "throughput_ratio_ours_over_peer": round(ours_row["throughput_img_s"]
                                                       / peer_row["throughput_img_s"], 2),
              "targets": {"latency_ms_max": 50, "throughput_img_s_min": 40},
              "met": {"latency": ours_row["latency_ms"] <= 50,
                      "throughput": ours_row["reader_throughput_img_s"] >= 40}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
