"""Every adapter's `Dataset` is a map-style torch dataset: ``ds[i]``, ``len``, transforms,
`collate` for a DataLoader."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from radlens.data import adapters, spec
from radlens.data.samples import Batch, Item, collate
from radlens.data.splits import split_by_patient
from radlens.errors import DataError


def _folder(tmp_path: Path) -> Path:
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    for cls, n, shape in (("NORMAL", 3, (80, 100)), ("PNEUMONIA", 2, (120, 90))):
        (tmp_path / cls).mkdir()
        for k in range(n):
            PILImage.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
                tmp_path / cls / f"{cls.lower()}{k}.png")
    return tmp_path


def test_index_gives_tensor_labels_mask_meta(tmp_path: Path) -> None:
    ds = adapters.image_folder(_folder(tmp_path))
    assert len(ds) == 5
    item = ds[0]
    assert isinstance(item, Item)
    assert item.image.dtype == torch.float32 and item.image.shape == (1, 80, 100)
    assert 0.0 <= float(item.image.min()) and float(item.image.max()) <= 1.0
    assert item.labels.dtype == torch.float32 and item.mask.dtype == torch.bool
    assert item.labels.tolist() == [1.0, 0.0]  # No Finding, PNEUMONIA
    assert item.mask.all()
    assert item.meta["path"].endswith("normal0.png") and item.meta["index"] == 0
    assert item.meta["class"] == "NORMAL" and item.meta["source"] == tmp_path.name
    assert ds[-1].meta["index"] == 4 and ds[-1].labels.tolist() == [0.0, 1.0]
    with pytest.raises(IndexError):
        ds[5]
    assert "samples=5" in repr(ds) and len(repr(ds)) < 200


def test_transform_and_size_and_dataloader(tmp_path: Path) -> None:
    ds = adapters.image_folder(_folder(tmp_path))
    with pytest.raises(DataError, match="with_transform"):
        collate([ds[0], ds[4]])  # 80x100 and 120x90 do not stack
    sized = ds.with_transform(lambda t: 1.0 - t, size=64)
    assert sized[0].image.shape == (1, 64, 64)
    from radlens.data.transforms import resize_square
    from radlens.io import load_image

    want = 1.0 - resize_square(load_image(ds.samples[0].path).pixels, 64)
    np.testing.assert_allclose(sized[0].image[0].numpy(), want, atol=1e-6)
    loader = DataLoader(cast("TorchDataset[Item]", sized), batch_size=2, collate_fn=collate)
    batches = list(loader)
    assert [len(b.meta) for b in batches] == [2, 2, 1]
    first = batches[0]
    assert isinstance(first, Batch) and first.images.shape == (2, 1, 64, 64)
    assert first.labels.shape == (2, 2) and first.mask.shape == (2, 2)
    train, val = split_by_patient(sized, (0.6, 0.4))
    assert train.size == 64 and train[0].image.shape == (1, 64, 64)
    assert len(train) + len(val) == 5


def test_unreadable_sample_names_the_file(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "NORMAL" / "normal0.png").write_bytes(b"not a png")
    ds = adapters.image_folder(root)
    with pytest.raises(DataError, match=r"normal0\.png"):
        ds[0]


def test_spec_load_takes_size_and_transform(tmp_path: Path) -> None:
    ds = spec.load(f"folder:{_folder(tmp_path)}", size=32, transform=torch.flipud)
    assert ds[0].image.shape == (1, 32, 32) and ds.size == 32


def test_real_adapters_index(shared_data: Path) -> None:
    for text in (f"kermany:{shared_data / 'pneumonia-kermany' / 'train'}",
                 f"{shared_data / 'tb-cxr'}", f"{shared_data / 'nih-cxr14'}"):
        ds = spec.load(text, size=96)
        item = ds[len(ds) // 2]
        assert item.image.shape == (1, 96, 96) and item.labels.shape == (len(ds.label_names),)
        assert item.meta["patient_id"]
