"""Every command-line option has help; help never prints a doubled percent sign."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from radlens.cli.main import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: str = "radlens"
             ) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, f"{path} {name}")
    return out


def test_every_option_has_help_and_no_doubled_percent() -> None:
    missing, doubled = [], []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                   argparse._SubParsersAction)):
                continue
            if not action.help:
                missing.append(f"{path} {action.option_strings or action.dest}")
        if "%%" in parser.format_help():
            doubled.append(path)
    assert missing == [] and doubled == []


def test_backbone_and_vocab_have_choices() -> None:
    from radlens.models import backbones
    from radlens.vocab import names

    parsers = dict(_parsers(build_parser()))
    by_dest = {a.dest: a for a in parsers["radlens train classifier"]._actions}
    assert list(by_dest["backbone"].choices or []) == list(backbones.names())
    label = {a.dest: a for a in parsers["radlens label"]._actions}
    assert list(label["vocab"].choices or []) == list(names())


def _reports(tmp_path: Path) -> Path:
    path = tmp_path / "reports.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study_id", "report"])
        w.writerow(["s1", "Large right pleural effusion. No pneumothorax."])
        w.writerow(["s2", "Cardiomegaly. No effusion."])
        w.writerow(["s3", "Normal chest. No pneumothorax, no effusion."])
        w.writerow(["s4", "Left pleural effusion and cardiomegaly."])
    return path


def test_label_guesses_the_study_id_column(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label", str(_reports(tmp_path)), "--json"]) == 0
    ids = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert ids == ["s1", "s2", "s3", "s4"]


def test_label_scores_against_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold.csv"
    # the gold says s3 has an effusion the text denies: one false negative for effusion;
    # s2's cardiomegaly is missing from the gold: one false positive for cardiomegaly
    gold.write_text("study_id,Pleural_Effusion,Cardiomegaly,Pneumothorax,normal\n"
                    "s1,1,0,0,0\ns2,0,,0,0\ns3,1,0,0,1\ns4,1,1,,0\nextra,0,0,0,1\n")
    out = tmp_path / "scores.json"
    assert main(["label", str(_reports(tmp_path)), "-o", str(tmp_path / "labels.csv"),
                 "--gold", str(gold), "--gold-json", str(out), "--bootstrap", "200"]) == 0
    err = capsys.readouterr().err
    assert "4 reports scored" in err and "1 gold rows have no report" in err
    assert "ignored: normal" in err and "Pleural Effusion" in err and "micro" in err
    scores = {s["label"]: s for s in json.loads(out.read_text())["labels"]}
    eff, card = scores["Pleural Effusion"], scores["Cardiomegaly"]
    assert eff["support"] == 3 and eff["predicted"] == 2
    assert eff["precision"]["value"] == 1.0
    assert eff["recall"]["value"] == pytest.approx(2 / 3)
    assert eff["f1"]["value"] == pytest.approx(0.8)
    assert card["precision"]["value"] == 0.5 and card["recall"]["value"] == 1.0
    assert eff["recall"]["ci_low"] <= eff["recall"]["value"] <= eff["recall"]["ci_high"]


def test_label_gold_errors_are_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("study_id,Pleural Effusion\ns1,yes\n")
    assert main(["label", str(_reports(tmp_path)), "-o", str(tmp_path / "l.csv"),
                 "--gold", str(gold)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radlens: ") and "is not 1, 0, -1 or blank" in err
    assert "\n" not in err
    gold.write_text("key,Pleural Effusion\nz,1\n")
    assert main(["label", str(_reports(tmp_path)), "-o", str(tmp_path / "l.csv"),
                 "--gold", str(gold)]) == 2
    assert "cannot find the id column" in capsys.readouterr().err


def test_evaluate_overlap_with_training_sources() -> None:
    import numpy as np

    from radlens.data.samples import Dataset, Sample
    from radlens.models.evaluation import training_overlap

    card = {"training": {"data": [{"source": "nih-cxr14", "images": 1169},
                                  {"source": "kermany", "images": 5216}]}}

    def sample(src: str) -> Sample:
        return Sample("x.png", np.zeros(1, np.float32), np.ones(1, bool), f"{src}:p", src)

    data = Dataset("d", ("A",), (sample("nih-cxr14"), sample("nih-cxr14"), sample("other")))
    assert training_overlap(card, data) == [
        {"source": "nih-cxr14", "evaluated_images": 2, "trained_images": 1169}]
    assert training_overlap({}, data) == []


def test_evaluate_warns_when_images_come_from_training_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    import numpy as np
    import torch
    from PIL import Image as PILImage

    from radlens.data import spec as data_spec
    from radlens.data.samples import Dataset, make_sample
    from radlens.models import registry
    from radlens.models.registry import LoadedModel
    from radlens.schema import ModelInfo

    class Bright(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 12.0 * (x.mean(dim=(1, 2, 3)) - 0.5)[:, None]

    card = {"labels": ["Pneumonia"], "input": {"size": 16},
            "thresholds": {"Pneumonia": {"youden": 0.5, "sens95": 0.3}},
            "training": {"data": [{"source": "toy", "images": 500}]}}
    samples = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        PILImage.fromarray(np.full((32, 32), 80 + 80 * (i % 2), np.uint8)).save(path)
        samples.append(make_sample(str(path), {"Pneumonia": float(i % 2)}, ("Pneumonia",),
                                   f"p{i}", "toy"))
    ds = Dataset("toy", ("Pneumonia",), tuple(samples))
    monkeypatch.setattr(registry, "load",
                        lambda name: LoadedModel(Bright(), card, np.ones(1),
                                                 ModelInfo("toy", "1", "classify")))
    monkeypatch.setattr(data_spec, "load", lambda spec: ds)
    with caplog.at_level(logging.WARNING):
        assert main(["evaluate", "--model", "toy", "--data", "x", "--json",
                     "--n-boot", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["training_overlap"] == [{"source": "toy", "evaluated_images": 12,
                                        "trained_images": 500}]
    assert any("which model toy was trained on" in r.getMessage() for r in caplog.records)
