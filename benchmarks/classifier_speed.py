"""Classifier speed on this CPU: single-image latency and batch throughput vs a DenseNet-121 peer.

The bundled model (or a random-weights EfficientNet-Lite0 when none is bundled) runs at its own
input size; the peer is a plain-PyTorch DenseNet-121 with 1 input channel and 18 outputs (the
architecture torchxrayvision ships) with random weights at 224 px. Both run in this process
with the same thread count. Latency is the median of `--repeats` single-image forward passes
(model only, preprocessed tensor); throughput is images/s over batches of `--batch`.

    python benchmarks/classifier_speed.py [--threads 2] [--repeats 30] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from radlens.models import registry
from radlens.models.densenet import DenseNet121
from radlens.models.efficientnet import EfficientNetLite


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


def _throughput(model: torch.nn.Module, size: int, batch: int, batches: int) -> float:
    x = torch.rand(batch, 1, size, size)
    with torch.no_grad():
        model(x)
        t = time.perf_counter()
        for _ in range(batches):
            model(x)
    return batch * batches / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = registry.default_model("classify")
    if name:
        loaded = registry.load(name)
        ours, size, label = loaded.network.eval(), loaded.size, name
    else:
        ours, size, label = EfficientNetLite(2, 1).eval(), 224, "efficientnet-lite0 (random)"
    peer = DenseNet121(num_classes=18, in_channels=1).eval()
    rows = {}
    for key, model, s in ((label, ours, size), ("densenet121-1ch-18 (peer)", peer, 224)):
        rows[key] = {"input_px": s, "latency_ms": round(_latency_ms(model, s, args.repeats), 1),
                     "throughput_img_s": round(_throughput(model, s, args.batch, args.batches),
                                               1)}
    ours_row, peer_row = rows[label], rows["densenet121-1ch-18 (peer)"]
    result = {"threads": args.threads, "models": rows,
              "latency_ratio_peer_over_ours": round(peer_row["latency_ms"]
                                                    / ours_row["latency_ms"], 2),
              "throughput_ratio_ours_over_peer": round(ours_row["throughput_img_s"]
                                                       / peer_row["throughput_img_s"], 2),
              "targets": {"latency_ms_max": 50, "throughput_img_s_min": 40},
              "met": {"latency": ours_row["latency_ms"] <= 50,
                      "throughput": ours_row["throughput_img_s"] >= 40}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
