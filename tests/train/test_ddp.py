"""Two-process DDP training through torchrun (gloo on CPU) runs and learns like one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from radlens.cli.main import main

pytestmark = pytest.mark.slow

COMMON = ["--labels", "Pneumonia,No Finding", "--size", "32", "--batch-size", "8",
          "--lr", "3e-3", "--val-fraction", "0.25", "--threads", "1", "--epochs", "3",
          "--no-augment"]


def test_torchrun_two_processes(toy_kermany: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "radlens", "train", "classifier", "--data", f"kermany:{toy_kermany}",
           *COMMON, "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["epochs"] == 3
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2, 3]  # one log line per epoch, from rank 0 only

    single = tmp_path / "single"
    assert main(["train", "classifier", "--data", f"kermany:{toy_kermany}", *COMMON,
                 "--out", str(single)]) == 0
    ddp_card = json.loads((out / "model.json").read_text())
    one_card = json.loads((single / "model.json").read_text())
    ddp_auc = ddp_card["validation"]["metrics"]["Pneumonia"]["auroc"]["value"]
    one_auc = one_card["validation"]["metrics"]["Pneumonia"]["auroc"]["value"]
    assert ddp_auc >= 0.9 and one_auc >= 0.9
    assert abs(ddp_auc - one_auc) <= 0.1
