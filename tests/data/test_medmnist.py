"""The ``medmnist:FILE.npz`` data spec: layouts, the sample contract and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.data import medmnist as md
from radlens.data import spec
from radlens.errors import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "medmnist"


def write(path: Path, shape: tuple[int, ...], classes: int = 2, n: int = 12,
          splits: tuple[str, ...] = ("train", "val"), **extra: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for s in splits:
        arrays[f"{s}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{s}_labels"] = (np.arange(n) % classes).astype(np.uint8)[:, None]
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(("shape", "dims", "channels", "item"), [
    ((28, 28), 2, 1, (1, 28, 28)), ((28, 28, 3), 2, 3, (3, 28, 28)),
    ((28, 28, 28), 3, 1, (1, 28, 28, 28))])
def test_layouts_and_sample_contract(tmp_path: Path, shape: tuple[int, ...], dims: int,
                                     channels: int, item: tuple[int, ...]) -> None:
    f = write(tmp_path / "thing.npz", shape, classes=3)
    opened = md.open_npz(f)
    assert (opened.info.dims, opened.info.channels, opened.info.side) == (dims, channels, 28)
    assert opened.info.labels == ("0", "1", "2")
    ds = spec.load(f"medmnist:{f}?split=val")
    assert len(ds) == 12 and ds.label_names == ("0", "1", "2")
    it = ds[4]
    assert tuple(it.image.shape) == item and str(it.image.dtype) == "torch.float32"
    assert 0.0 <= float(it.image.min()) and float(it.image.max()) <= 1.0
    raw = np.load(f)["val_images"][4].astype(np.float32) / 255
    expect = raw[None] if dims == 3 or channels == 1 else raw.transpose(2, 0, 1)
    np.testing.assert_allclose(it.image.numpy(), expect)
    assert it.labels.tolist() == [0.0, 1.0, 0.0] and bool(it.mask.all())
    assert it.meta["split"] == "val" and it.meta["patient_id"] == "thing:val/4"
    assert ds[-1].meta["index"] == 11


def test_kind_is_guessed_from_npz_suffix(tmp_path: Path) -> None:
    f = write(tmp_path / "x.npz", (28, 28))
    assert spec.parse(str(f))[0] == "medmnist"
    assert len(spec.load(str(f))) == 12  # default split: train


def test_known_dataset_names_and_size_suffix(tmp_path: Path) -> None:
    f = write(tmp_path / "breastmnist.npz", (28, 28))
    info = md.open_npz(f).info
    assert info.labels == ("malignant", "normal, benign") and info.modality == "breast-us"
    g = write(tmp_path / "adrenalmnist3d_64.npz", (64, 64, 64), n=3)
    assert md.open_npz(g).info.name == "adrenalmnist3d" and md.open_npz(g).info.side == 64


def test_missing_arrays(tmp_path: Path) -> None:
    p = tmp_path / "empty.npz"
    np.savez(p, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="train_images/train_labels") as e:
        md.open_npz(p)
    assert str(p) in str(e.value)
    q = tmp_path / "half.npz"
    np.savez(q, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="not both"):
        md.open_npz(q)


def test_missing_split(tmp_path: Path) -> None:
    f = write(tmp_path / "t.npz", (28, 28), splits=("train",))
    with pytest.raises(DataError, match="no 'val' split"):
        spec.load(f"medmnist:{f}?split=val")


def test_labels_out_of_range(tmp_path: Path) -> None:
    p = write(tmp_path / "breastmnist.npz", (28, 28), classes=3)
    with pytest.raises(DataError, match=r"out of range.*0\.\.1 of breastmnist") as e:
        md.open_npz(p)
    assert "breastmnist.npz" in str(e.value)


def test_wrong_layout_for_a_known_dataset(tmp_path: Path) -> None:
    p = write(tmp_path / "retinamnist.npz", (28, 28), classes=5)
    with pytest.raises(DataError, match="3 channel"):
        md.open_npz(p)


def test_not_an_npz(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        md.open_npz(p)
    with pytest.raises(DataError, match="not found"):
        md.open_npz(tmp_path / "none.npz")
    q = tmp_path / "float.npz"
    np.savez(q, train_images=np.zeros((2, 28, 28)), train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(DataError, match="expected uint8"):
        md.open_npz(q)


def test_model_input_mismatch(tmp_path: Path) -> None:
    vol = write(tmp_path / "v.npz", (28, 28, 28))
    with pytest.raises(DataError, match="3-D images but the model expects 2-D") as e:
        md.open_npz(vol, expect={"dims": 2, "channels": 1, "size": 28})
    assert "v.npz" in str(e.value)
    rgb = write(tmp_path / "c.npz", (28, 28, 3))
    with pytest.raises(DataError, match="RGB images but the model expects grey"):
        md.open_npz(rgb, expect={"dims": 2, "channels": 1, "size": 28})
    grey = write(tmp_path / "g.npz", (28, 28))
    with pytest.raises(DataError, match="64-px input"):
        md.open_npz(grey, expect={"dims": 2, "channels": 1, "size": 64})


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/medmnist")
def test_shared_files() -> None:
    for name, (dims, ch, n_val) in {"breastmnist": (2, 1, 78), "pneumoniamnist": (2, 1, 524),
                                    "retinamnist": (2, 3, 120),
                                    "adrenalmnist3d": (3, 1, 98)}.items():
        f = md.open_npz(SHARED / f"{name}.npz")
        assert (f.info.dims, f.info.channels, f.info.side) == (dims, ch, 28)
        assert len(f.split("val")[1]) == n_val
