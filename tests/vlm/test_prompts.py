"""Templates: label phrasing, findings keys and zero-shot prompts come from the data file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radlens.errors import DataError
from radlens.vlm import prompts


def test_canonical_names_and_aliases() -> None:
    assert prompts.canonical("Pleural_Thickening") == "pleural thickening"
    assert prompts.canonical("Pleural Effusion") == "effusion"
    assert prompts.canonical("  No   Finding ") == "no finding"


def test_phrasings_use_names_and_templates() -> None:
    pos = prompts.phrasings("Effusion", True)
    neg = prompts.phrasings("Effusion", False)
    assert "pleural effusion." in pos and "there is effusion." in pos
    assert "no pleural effusion." in neg
    assert not set(pos) & set(neg)
    assert "normal chest radiograph." in prompts.phrasings("No Finding", True)


def test_label_text_states_positives_and_some_negatives() -> None:
    rng = np.random.default_rng(0)
    texts = [prompts.label_text(["Pneumonia"], ["Effusion", "Mass"], rng) for _ in range(50)]
    assert all(any(n in t for n in ("pneumonia", "pneumonic")) for t in texts)
    assert any("no " in t or "not seen" in t or "negative for" in t for t in texts)
    assert any(t.count(".") == 1 for t in texts)  # sometimes no negative at all
    normal = prompts.label_text(["No Finding"], [], np.random.default_rng(1))
    assert normal in prompts.phrasings("No Finding", True)


def test_findings_key_ignores_order_case_and_no_finding() -> None:
    assert prompts.findings_key(["Pneumonia", "Effusion"]) == "effusion|pneumonia"
    assert prompts.findings_key(["pleural effusion", "PNEUMONIA", "No Finding"]) == \
        "effusion|pneumonia"
    assert prompts.findings_key([]) == prompts.findings_key(["No Finding"]) == "no finding"


def test_zeroshot_prompts_are_positive_vs_negative() -> None:
    pos, neg = prompts.zeroshot_prompts("pneumonia")
    assert "pneumonia" in pos and "no pneumonia" in neg
    assert len(pos) == len(neg) >= 3
    pos, neg = prompts.zeroshot_prompts("Some New Finding")
    assert "some new finding" in pos and "no some new finding" in neg


def test_user_template_file(tmp_path: Path) -> None:
    good = tmp_path / "t.json"
    good.write_text(json.dumps({"generic": {"positive": ["{finding} seen."],
                                            "negative": ["no {finding} seen."]},
                                "findings": {}}))
    table = prompts.load_templates(good)
    assert prompts.phrasings("mass", True, table) == ["mass seen."]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(DataError, match=r"bad\.json"):
        prompts.load_templates(bad)


def test_no_finding_prompts_ask_normal_vs_abnormal() -> None:
    """'No Finding' is a negation: its prompts are whole sentences, never 'no no finding'."""
    pos, neg = prompts.zeroshot_prompts("No Finding")
    assert "normal chest radiograph." in pos and "abnormal chest radiograph." in neg
    assert not any(p.startswith("no no") for p in pos + neg)
    assert not set(pos) & set(neg)
