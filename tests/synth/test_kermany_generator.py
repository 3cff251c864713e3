"""A finding-conditioned chest-film generator end to end on a tiny Kermany-like folder:
train + export (3 classes), then evaluate-generator's class path with the bundled chest
classifier (no shared data); and, when the shared data is there, the real folder's classes
and split (no decoding)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from radlens.paths import data_root
from radlens.synth import data as gd
from tests.synth.test_kermany_data import CLASSES, make_kermany

KERMANY = data_root() / "pneumonia-kermany"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(run folder, spec) of a 3-step 16-px generator trained on a tiny Kermany folder."""
    pytest.importorskip("diffusers")
    from radlens.train.generator import GeneratorConfig, export, train

    base = tmp_path_factory.mktemp("kermany")
    make_kermany(base / "train", normals=5, persons=10)
    spec = f"kermany:{base / 'train'}"
    cfg = GeneratorConfig(data=spec, out=str(base / "run"), name="tiny-findings", size=16,
                          widths=(8, 16), batch_size=8, max_steps=3, time_budget=0,
                          log_every=1, sample_steps=2)
    train(cfg, progress=False)
    export(cfg, time_sampling=False)
    return base / "run", spec


def test_train_and_export_three_classes(trained: tuple[Path, str]) -> None:
    from radlens.synth import model as gm

    run, _ = trained
    card = json.loads((run / "model.json").read_text())
    assert card["labels"] == list(CLASSES) and card["conditioning"] == "class"
    assert card["architecture"]["config"]["num_class_embeds"] == 4  # 3 classes + null
    assert card["sampler"]["null_class"] == 3 and card["output"]["size"] == 16
    src = card["training"]["data"][0]
    assert src["licence"] == "CC BY 4.0" and src["classes"]["viral pneumonia"] == 8
    assert list((run).glob("cache-kermany-16.npz"))
    gen = gm.load_generator(str(run))
    out = gm.sample(gen, 3, labels=[0, 1, 2], steps=2)
    assert out.shape == (3, 16, 16) and np.isfinite(out).all()


def test_evaluate_uses_the_chest_classifier(trained: tuple[Path, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from radlens.synth import evaluate as ev

    # the Fréchet distance of 1280-d features takes seconds (tests/synth/test_metrics.py
    # covers it); a stand-in keeps this test fast
    monkeypatch.setattr(ev.gm, "frechet_distance", lambda a, b: float(np.abs(
        a.mean(0) - b.mean(0)).sum()))
    run, spec = trained
    r = ev.evaluate(str(run), spec, n=8, steps=2, tstr_n=8, cache_dir=run,
                 sheet=tmp_path / "pairs.png")
    assert "radlens-cxr-lite0" in r["features"] and "1280-d" in r["features"]
    c = r["conditioning_fidelity"]
    assert c["classifier"] == "radlens-cxr-lite0" and c["label"] == "Pneumonia"
    assert "'bacterial pneumonia', 'viral pneumonia'" in c["definition"]
    assert set(c["per_label"]) == set(CLASSES) and 0 <= c["accuracy_on_generated"] <= 1
    assert 0 <= c["accuracy_on_real_val"] <= 1 and set(c["per_label_real_val"]) == set(CLASSES)
    assert 0 <= c["auroc_real_val"] <= 1
    assert set(c["at_side_threshold"]["per_label"]) == set(CLASSES)
    t = r["train_on_synthetic"]
    assert "one-vs-rest" in t["auc"] and t["images_per_arm"] == 8
    assert np.isfinite(t["auc_real"]) and np.isfinite(t["auc_synthetic"])
    assert r["realism"]["generated_vs_val"]["n_generated"] == 8
    assert (tmp_path / "pairs.png").is_file() and "conditioning fidelity" in ev.format_report(r)


@pytest.mark.skipif(not (KERMANY / "train").is_dir(), reason="needs the shared data "
                    "(pneumonia-kermany)")
def test_real_folder_classes_and_the_classifiers_split() -> None:
    """File names give all three classes; the validation side is exactly the Kermany part of
    the bundled classifier's validation patients (its card's training config)."""
    from radlens.data import spec as data_spec
    from radlens.data.samples import harmonise
    from radlens.data.splits import assign_patients
    from radlens.models.registry import find_card

    ds = data_spec.load(f"kermany:{KERMANY / 'train'}")
    classes = gd.kermany_table()["classes"]
    counts = Counter(gd.kermany_class(s.path, s.meta["subtype"], classes) for s in ds.samples)
    assert counts == {0: 1341, 1: 2530, 2: 1345}
    split = gd.kermany_table()["split"]
    ours = assign_patients(ds, split["fractions"], split["seed"])
    cfg = find_card("radlens-cxr-lite0")["training"]["config"]
    specs = [s.replace("<data>", str(KERMANY.parent)) for s in cfg["data"]]
    theirs = assign_patients(harmonise([data_spec.load(s) for s in specs], cfg["labels"]),
                             (1 - cfg["val_fraction"], cfg["val_fraction"]), cfg["seed"])
    assert all(theirs[p] == side for p, side in ours.items())
