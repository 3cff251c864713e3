"""Zero-shot scoring: positive vs negative prompt softmax."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import InputError
from radlens.vlm.zeroshot import classify, parse_labels, prompt_pairs
from tests.vlm.conftest import FakeVLM


def test_parse_labels() -> None:
    assert parse_labels(" pneumonia, pleural effusion,,pneumonia ") == ["pneumonia",
                                                                         "pleural effusion"]
    with pytest.raises(InputError):
        parse_labels(" , ")


def test_probabilities_follow_prompt_similarity(fake_vlm: FakeVLM) -> None:
    bright, dark = np.full((16, 16), 0.9), np.full((16, 16), 0.1)
    probs = classify(fake_vlm, [bright, dark], ["pneumonia", "effusion"])
    assert probs.shape == (2, 2)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert probs[0, 0] > 0.9 and probs[1, 0] < 0.1  # fake: bright = positive prompt side
    pairs = prompt_pairs(fake_vlm, ["effusion"])
    assert "no pleural effusion" in pairs[0].negative_prompts
    assert np.isclose(np.linalg.norm(pairs[0].positive), 1.0)
