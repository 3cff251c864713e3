"""Zero-shot classification (CheXzero style): image vs "{finding}" and "no {finding}" prompts.

For each label the positive and negative prompt sets (from the templates) are embedded and
averaged into one positive and one negative direction; the probability is the softmax of the
image's two scaled cosine similarities, ``p = exp(s·cos+) / (exp(s·cos+) + exp(s·cos-))`` with
``s`` the model's learnt logit scale. These are relative scores, not calibrated probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radlens.errors import InputError
from radlens.vlm.model import VisionLanguageModel
from radlens.vlm.prompts import zeroshot_prompts


@dataclass(frozen=True)
class PromptPair:
    """Unit vectors of a label's averaged positive and negative prompts, and the prompts."""

    label: str
    positive: np.ndarray
    negative: np.ndarray
    positive_prompts: tuple[str, ...]
    negative_prompts: tuple[str, ...]


def parse_labels(text: str) -> list[str]:
    """Comma-separated labels -> stripped, de-duplicated list; `InputError` when empty."""
    labels = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not labels:
        raise InputError("give at least one label, e.g. --labels 'pneumonia,pleural effusion'")
    return labels


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def prompt_pairs(model: VisionLanguageModel, labels: Sequence[str]) -> list[PromptPair]:
    """Embed every label's prompt sets once (one text-encoder call for all labels)."""
    sets = [zeroshot_prompts(lab) for lab in labels]
    flat = [p for pos, neg in sets for p in (*pos, *neg)]
    emb = model.embed_texts(flat)
    out, i = [], 0
    for lab, (pos, neg) in zip(labels, sets, strict=True):
        e_pos, e_neg = emb[i:i + len(pos)], emb[i + len(pos):i + len(pos) + len(neg)]
        i += len(pos) + len(neg)
        out.append(PromptPair(lab, _unit(e_pos.mean(0)), _unit(e_neg.mean(0)), tuple(pos),
                              tuple(neg)))
    return out


def zeroshot_scores(model: VisionLanguageModel, image_embeddings: np.ndarray,
                    pairs: Sequence[PromptPair]) -> np.ndarray:
    """(N, L) probabilities in [0, 1] that each of N embedded images shows each label."""
    emb = np.asarray(image_embeddings, dtype=np.float32)
    pos = np.stack([p.positive for p in pairs])
    neg = np.stack([p.negative for p in pairs])
    scale = model.logit_scale()
    diff = scale * (emb @ pos.T - emb @ neg.T)
    return (1.0 / (1.0 + np.exp(-diff))).astype(np.float32)


def classify(model: VisionLanguageModel, images: Sequence[np.ndarray],
             labels: Sequence[str]) -> np.ndarray:
    """Zero-shot probabilities (N, L) for (H, W) [0, 1] images and label names."""
    return zeroshot_scores(model, model.embed_pixels(images), prompt_pairs(model, labels))
