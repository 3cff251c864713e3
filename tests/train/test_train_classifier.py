"""`radlens train classifier` trains, resumes after a stop, exports a card; evaluate reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radlens.cli.main import main
from radlens.models import registry
from radlens.schema import Call, Interpretation, QCReport, RegionKind

ARGS = ["--labels", "Pneumonia,No Finding", "--size", "32", "--batch-size", "8",
        "--lr", "3e-3", "--val-fraction", "0.25", "--threads", "1"]


@pytest.fixture(scope="module")
def trained_run(toy_kermany: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    data = ["--data", f"kermany:{toy_kermany}"]
    assert main(["train", "classifier", *data, *ARGS, "--out", str(out), "--epochs", "1"]) == 0
    first = (out / "log.jsonl").read_text().splitlines()
    # a second start with more epochs resumes after epoch 1 instead of starting over
    assert main(["train", "classifier", *data, *ARGS, "--out", str(out), "--epochs", "3",
                 "--patience", "5"]) == 0
    lines = (out / "log.jsonl").read_text().splitlines()
    assert lines[0] == first[0]
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    return out


def test_card_has_everything_a_user_needs(trained_run: Path) -> None:
    card = registry.read_card(trained_run / "model.json")
    assert card["labels"] == ["Pneumonia", "No Finding"]
    assert card["input"]["size"] == 32 and card["input"]["air"] == "dark"
    for label in card["labels"]:
        assert card["calibration"][label]["temperature"] > 0
        assert 0 <= card["thresholds"][label]["sens95"] <= 1
        auroc = card["validation"]["metrics"][label]["auroc"]
        assert auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]
    assert card["training"]["data"][0]["licences"] == {"CC BY 4.0": 32}
    assert card["not_for"] and card["intended_use"]
    # the toy task is easy: the model must have learnt it
    assert card["validation"]["metrics"]["Pneumonia"]["auroc"]["value"] >= 0.9


def test_classify_with_run_folder_gives_findings_and_heatmaps(trained_run: Path,
                                                             toy_kermany: Path) -> None:
    from radlens.io import load_image
    from radlens.render.overlay import render_overlay
    from radlens.tasks.classify import classify

    results = {}
    for path in sorted((toy_kermany / "PNEUMONIA").iterdir())[:6]:
        image = load_image(path)
        results[path] = (image, classify(image, model=str(trained_run)))
    for _, result in results.values():
        by_label = {f.label: f for f in result.findings}
        assert set(by_label) == {"Pneumonia", "No Finding"}
        for f in result.findings:
            assert f.call is Call.from_probability(f.probability, f.threshold, f.uncertain_from)
    positives = [v for v in results.values() if v[1].findings[0].call is Call.POSITIVE]
    assert len(positives) >= len(results) // 2
    image, result = positives[0]
    pneu = result.findings[0]
    (region,) = result.regions
    assert region.kind is RegionKind.FINDING and pneu.region_ids == (region.id,)
    assert region.heatmap is not None and 0 <= region.heatmap.min() <= region.heatmap.max() <= 1
    interp = Interpretation(image=image.meta, qc=QCReport(), findings=result.findings,
                            regions=result.regions)
    out = trained_run / "overlay.png"
    render_overlay(image, interp, out)
    from PIL import Image

    with Image.open(out) as png:
        assert png.size == (40, 40) and png.mode == "RGB"
        assert np.asarray(png).std(axis=2).max() > 0  # colour was drawn over the grey image


def test_evaluate_json_and_plots(trained_run: Path, toy_kermany: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    plots = trained_run / "plots"
    assert main(["evaluate", "--model", str(trained_run), "--data", f"kermany:{toy_kermany}",
                 "--json", "--plots", str(plots), "--n-boot", "50"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 32 and result["n_patients"] == 16
    m = result["metrics"]["Pneumonia"]
    assert {"auroc", "ap", "ece", "sens_youden", "spec_youden", "sens_95", "spec_95"} <= set(m)
    assert (plots / "roc.png").stat().st_size > 0 and (plots / "reliability.png").is_file()


def test_tampered_weights_are_refused(trained_run: Path, tmp_path: Path) -> None:
    from radlens.errors import ModelError

    card = json.loads((trained_run / "model.json").read_text())
    card["weights"]["sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(card))
    (tmp_path / "model.safetensors").write_bytes((trained_run / "model.safetensors").read_bytes())
    with pytest.raises(ModelError, match="SHA-256"):
        registry.load(str(tmp_path))


def test_bad_input_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    assert main(["train", "classifier", "--data", "kermany:/no/such", "--labels", "Pneumonia",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["radlens: /no/such: dataset folder not found"]
    assert main(["evaluate", "--model", "no-such-model", "--data", "kermany:/x"]) == 2
    assert "unknown model" in capsys.readouterr().err
