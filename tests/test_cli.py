"""The radlens command: help, version, read with JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from radlens import __version__
from radlens.cli.main import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "radlens", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_and_version(capsys) -> None:
    proc = _run("--help")
    assert proc.returncode == 0 and "read" in proc.stdout
    proc = _run("--version")
    assert proc.stdout.strip() == f"radlens {__version__}"


def test_read_json_and_out(tmp_path: Path, chest_like: np.ndarray, capsys) -> None:
    img = tmp_path / "chest.png"
    PILImage.fromarray((chest_like * 255).astype(np.uint8)).save(img)
    status = main(["read", str(img), str(tmp_path / "nope.png"), "--json", "--out",
                   str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 1
    records = json.loads(captured.out)
    assert records[0]["image"]["width"] == 256 and records[0]["qc"]["issues"] == []
    assert records[1]["error"]["type"] == "InputError"
    saved = json.loads((tmp_path / "out" / "chest.json").read_text())
    assert saved["id"] == records[0]["id"]


def test_read_sample_runs() -> None:
    proc = _run("read", "--sample")
    assert proc.returncode == 0, proc.stderr
    assert "1841x1955" in proc.stdout and "MONOCHROME1" in proc.stdout
