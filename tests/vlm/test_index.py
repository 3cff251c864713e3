"""The SQLite index and brute-force search, with a fake model (no weights needed)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from radlens.errors import DataError
from radlens.vlm.index import Index, build, open_store, top_k
from tests.vlm.conftest import FakeVLM


def test_top_k_matches_full_sort() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=16).astype(np.float32)
    got = top_k(vecs, q, 7)
    want = np.argsort(-(vecs @ q))[:7]
    assert [i for i, _ in got] == list(want)
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(got))
    mask = np.zeros(500, bool)
    mask[[3, 9]] = True
    assert sorted(i for i, _ in top_k(vecs, q, 5, mask)) == [3, 9]


def test_build_and_search(image_dir: Path, tmp_path: Path, fake_vlm: FakeVLM) -> None:
    store = tmp_path / "index.sqlite"
    counts = build(image_dir, store, fake_vlm, progress=False)
    assert counts == {"images": 4, "texts": 1, "skipped": 1, "existing": 0}
    index = Index(store, fake_vlm)
    assert len(index) == 5
    hits = index.search(fake_vlm.embed_texts(["bright"])[0], k=2, kind="image")
    assert [Path(h.source).stem for h in hits] == ["bright1", "bright2"]
    assert hits[0].score > hits[1].score > 0.9
    dark = index.search(fake_vlm.embed_pixels([np.zeros((8, 8))])[0], k=1, kind="image")
    assert Path(dark[0].source).stem == "dark1"
    text_hits = index.search(fake_vlm.embed_texts(["x"])[0], k=3, kind="text")
    assert len(text_hits) == 1 and "consolidation" in (text_hits[0].text or "")
    assert "cough" not in (text_hits[0].text or "")  # INDICATION is not indexed
    # a second build only adds what is new
    again = build(image_dir, store, fake_vlm, progress=False)
    assert again["images"] == 0 and again["texts"] == 0 and again["existing"] == 5


def test_sentences_are_indexed_separately(image_dir: Path, tmp_path: Path,
                                          fake_vlm: FakeVLM) -> None:
    store = tmp_path / "s.sqlite"
    counts = build(image_dir, store, fake_vlm, sentences=True, progress=False)
    assert counts["texts"] == 3


def test_store_errors(tmp_path: Path, fake_vlm: FakeVLM, image_dir: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.sqlite"):
        open_store(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"x" * 200)
    with pytest.raises(DataError, match="not a radlens index"):
        open_store(junk)
    store = tmp_path / "i.sqlite"
    build(image_dir, store, fake_vlm, progress=False)
    other = FakeVLM()
    other.digest = "f" * 64
    with pytest.raises(DataError, match="built with"):
        Index(store, other)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(DataError, match="empty"):
        Index(empty)
