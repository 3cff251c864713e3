"""Generators: loading by card, the DDIM sampler, conditioning checks, the synth CLI, and
resumable training + export on a tiny file (no shared data, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.cli.main import main
from radlens.errors import DataError, ModelError
from radlens.synth import model as gm


def test_sampler_is_seeded_per_image_and_in_range(class_run: Path) -> None:
    gen = gm.load_generator(str(class_run))
    a = gm.sample(gen, 3, labels=[0, 1, 1], steps=2, seed=5, batch=2)
    b = gm.sample(gen, 2, labels=[0, 1], steps=2, seed=5, batch=64)
    assert a.shape == (3, 8, 8) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_allclose(a[:2], b, atol=1e-5)  # image i does not depend on n or batch
    c = gm.sample(gen, 2, labels=[0, 1], steps=2, seed=6)
    assert not np.allclose(b, c)


def test_mask_generator_takes_masks(mask_run: Path) -> None:
    gen = gm.load_generator(str(mask_run))
    masks = np.zeros((2, 8, 8), bool)
    masks[:, 2:6, 1:4] = True
    out = gm.sample(gen, 2, masks=masks, steps=2)
    assert out.shape == (2, 8, 8)
    with pytest.raises(gm.ConditionError, match="one mask per image"):
        gm.sample(gen, 2, masks=None, steps=2)


def test_weights_must_match_card(class_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text((class_run / "model.json").read_text())
    (bad / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="SHA-256"):
        gm.load_generator(str(bad))


def test_labels_and_masks_are_checked() -> None:
    assert gm.label_index(["normal", "pneumonia"], "Pneumonia") == 1
    assert gm.label_index(["normal", "pneumonia"], "0") == 0
    with pytest.raises(gm.ConditionError, match=r"unknown label 'tb'.*'normal', 'pneumonia'"):
        gm.label_index(["normal", "pneumonia"], "tb")
    ok = np.zeros((8, 8), np.uint8)
    ok[2:4] = 255
    assert gm.check_mask(ok, 8).sum() == 16
    with pytest.raises(gm.ConditionError, match="16x8 px; the model takes 8x8"):
        gm.check_mask(np.zeros((16, 8), np.uint8), 8)
    grey = ok.copy()
    grey[0, 0] = 128
    with pytest.raises(gm.ConditionError, match="not binary"):
        gm.check_mask(grey, 8)


def _synth(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["synth", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_cli_writes_pngs_and_records(class_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, _ = _synth(capsys, "--model", str(class_run), "--label", "pneumonia",
                             "-n", "3", "--out", str(out), "--seed", "2", "--json",
                             "--threads", "1")
    assert code == 0
    records = json.loads((out / "synth.json").read_text())
    assert json.loads(stdout) == records
    assert [r["file"] for r in records] == [f"synth-{i:05d}.png" for i in range(3)]
    assert {r["label"] for r in records} == {"pneumonia"} and records[0]["seed"] == 2
    with Image.open(out / "synth-00000.png") as im:
        assert im.size == (8, 8) and im.mode == "L"
    # the folder now holds files: refused, nothing overwritten
    before = (out / "synth-00000.png").read_bytes()
    code, _, err = _synth(capsys, "--model", str(class_run), "--label", "normal", "-n", "1",
                          "--out", str(out))
    assert code == 2 and "exists and is not empty" in err and "Traceback" not in err
    assert (out / "synth-00000.png").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--label", "tuberculosis"], "unknown label 'tuberculosis'"),
    (["--label", "normal", "-n", "0"], "at least 1"),
    (["--mask", "MASK"], "takes --label, not --mask"),
])
def test_synth_cli_bad_class_input(class_run: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], args: list[str],
                                   message: str) -> None:
    args = [str(tmp_path / "m.png") if a == "MASK" else a for a in args]
    code, _, err = _synth(capsys, "--model", str(class_run), *args, "--out",
                          str(tmp_path / "o"))
    assert code == 2 and message in err and err.startswith("radlens: ")
    assert not (tmp_path / "o").exists()


def test_synth_cli_bad_masks(mask_run: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(big)
    grey = tmp_path / "grey.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(grey)
    for path, message in ((big, "16x16 px; the model takes 8x8"), (grey, "not binary")):
        code, _, err = _synth(capsys, "--model", str(mask_run), "--mask", str(path), "--out",
                              str(tmp_path / "o"))
        assert code == 2 and message in err
    good = tmp_path / "good.png"
    arr = np.zeros((8, 8), np.uint8)
    arr[2:6, 1:4] = 255
    Image.fromarray(arr).save(good)
    code, _, _ = _synth(capsys, "--model", str(mask_run), "--mask", str(good), "-n", "2",
                        "--out", str(tmp_path / "o"), "--threads", "1")
    assert code == 0
    rec = json.loads((tmp_path / "o" / "synth.json").read_text())
    assert rec[0]["mask_pixels"] == 12 and len(rec[0]["mask_sha256"]) == 64


def test_train_resume_and_export(tiny_npz: Path, tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from radlens.train.generator import GeneratorConfig, export, train

    out = tmp_path / "run"
    cfg = GeneratorConfig(data=f"medmnist:{tiny_npz}", out=str(out), name="tiny-gen",
                          widths=(8, 16, 16), batch_size=8, max_steps=3, time_budget=0,
                          log_every=1, sample_steps=2)
    train(cfg, progress=False)
    with pytest.raises(DataError, match="--resume"):
        train(cfg, progress=False)  # never silently restarted over a checkpoint
    cfg5 = GeneratorConfig(**{**cfg.__dict__, "max_steps": 5})
    train(cfg5, resume=True, progress=False)
    card_path = export(cfg5, time_sampling=False)
    card = json.loads(card_path.read_text())
    assert card["task"] == "generate" and card["training"]["steps"] == 5
    assert [h["step"] for h in card["training"]["history"]] == [1, 2, 3, 4, 5]
    assert card["labels"] == ["0", "1"] and card["conditioning"] == "class"
    gen = gm.load_generator(str(out))
    assert gen.labels == ("0", "1") and gen.size == 28
    assert gm.sample(gen, 1, labels=[1], steps=2).shape == (1, 28, 28)


def test_bundled_generators_load_and_sample() -> None:
    pytest.importorskip("diffusers")
    from radlens.models import registry

    cards = [c for c in registry.list_cards() if c["task"] == "generate"]
    if not cards:
        pytest.skip("no generator is bundled")
    for card in cards:
        path = registry.weights_dir() / card["weights"]["file"]
        assert path.stat().st_size < 5_500_000
        gen = gm.load_generator(card["name"])
        if gen.conditioning == "class":
            out = gm.sample(gen, 1, labels=[0], steps=2)
        else:
            m = np.zeros((1, gen.size, gen.size), bool)
            m[0, gen.size // 4: -gen.size // 4, 4:-4] = True
            out = gm.sample(gen, 1, masks=m, steps=2)
        assert out.shape == (1, gen.size, gen.size) and np.isfinite(out).all()
