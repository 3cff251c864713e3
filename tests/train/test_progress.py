"""The training bar shows loss and validation AUROC; the run says why it stopped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from radlens.train.progress import EpochBar, stop_message


def test_bar_shows_loss_then_validation(capsys: pytest.CaptureFixture[str]) -> None:
    bar = EpochBar(3, 0, 5, show=True, last=0.71)
    for loss in (0.9, 0.7, 0.5):
        bar.step(loss)
    assert bar.mean_loss == pytest.approx(0.7)
    bar.validated(0.8123, 0.8123, 1)
    err = capsys.readouterr().err
    assert "epoch 1/5" in err and "loss=0.7000" in err
    assert "val_auroc=0.8123" in err and "best=0.8123 @1" in err


def test_hidden_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = EpochBar(2, 0, 1, show=False)
    bar.step(1.0)
    bar.close()
    assert capsys.readouterr().err == ""


def test_stop_messages() -> None:
    state = {"epoch": 4, "best": 0.91234, "best_epoch": 2, "stale": 2}
    assert stop_message(state, 10, 2) == ("stopped early at epoch 4 (best 2, validation AUROC "
                                          "0.9123): no gain for 2 epochs (patience 2)")
    assert stop_message({**state, "epoch": 10}, 10, 2).startswith("finished all 10 epochs")
    assert "time budget" in stop_message({**state, "stale": 0}, 10, 2)


def test_frozen_run_logs_why_it_stopped(toy_kermany: Path, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from radlens.cli.main import main

    args = ["train", "classifier", "--data", f"kermany:{toy_kermany}", "--labels",
            "Pneumonia,No Finding", "--size", "64", "--batch-size", "8", "--lr", "3e-3",
            "--val-fraction", "0.25", "--threads", "1", "--freeze-blocks", "11",
            "--out", str(tmp_path / "run"), "--patience", "1", "--epochs", "8"]
    with caplog.at_level(logging.INFO, logger="radlens.train"):
        assert main(args) == 0
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("radlens.train")]
    last = next(m for m in reversed(lines) if "epoch" in m and ("stopped" in m
                                                              or "finished" in m))
    assert last.startswith(("stopped early at epoch", "finished all 8 epochs"))
    err = capsys.readouterr().err
    assert "val_auroc=" in err and "loss=" in err
