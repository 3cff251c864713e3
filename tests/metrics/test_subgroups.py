"""Subgroup figures: sex groups and age bands, per-label figures with CIs, largest gaps."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pytest

from radlens.errors import DataError
from radlens.metrics import classification as cm
from radlens.metrics import subgroups as sg

THRESHOLDS = {"A": {"threshold_youden": 0.5, "threshold_sens95": 0.3},
              "B": {"threshold_youden": 0.6, "threshold_sens95": 0.2}}


@pytest.mark.parametrize(("age", "band"), [
    ("0", "0-17"), ("17", "0-17"), ("17.9", "0-17"), ("6M", "0-17"), ("010W", "0-17"),
    ("18", "18-39"), ("18.0", "18-39"), ("39", "18-39"), ("39.99", "18-39"),
    ("40", "40-64"), ("45.0", "40-64"), ("058Y", "40-64"), ("64", "40-64"),
    ("65", "65+"), ("77", "65+"), (" 90 ", "65+"), ("120", "65+"),
    ("", "unknown"), (None, "unknown"), ("abc", "unknown"), ("-3", "unknown"),
    ("414", "unknown"), ("nan", "unknown"),
])
def test_age_bands_including_edges(age: str | None, band: str) -> None:
    assert sg.age_band(age) == band


@pytest.mark.parametrize(("sex", "group"), [
    ("M", "M"), ("m", "M"), ("Male", "M"), (" male ", "M"), ("F", "F"), ("f", "F"),
    ("FEMALE", "F"), ("", "unknown"), (None, "unknown"), ("O", "unknown"), ("x", "unknown"),
])
def test_sex_groups_are_lenient(sex: str | None, group: str) -> None:
    assert sg.sex_group(sex) == group


def test_assign_groups_counts_unreadable_values_and_reads_any_key_case() -> None:
    meta = [{"age": "17", "sex": "m"}, {"Age": "40"}, {"age": "old", "sex": "O"}, {}]
    ages, bad_age = sg.assign_groups(meta, "age")
    sexes, bad_sex = sg.assign_groups(meta, "sex")
    assert ages == ["0-17", "40-64", "unknown", "unknown"] and bad_age == 1
    assert sexes == ["M", "unknown", "unknown", "unknown"] and bad_sex == 1


def test_parse_factors() -> None:
    assert sg.parse_factors("sex,age") == ("sex", "age")
    assert sg.parse_factors(" AGE, sex ,age") == ("age", "sex")
    assert sg.parse_factors(["sex"]) == ("sex",)
    with pytest.raises(DataError, match=r"--by: unknown subgroup factor.*'race'"):
        sg.parse_factors("sex,race")
    with pytest.raises(DataError, match="no subgroup factor"):
        sg.parse_factors(" , ")


def _synthetic() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str],
                          list[Mapping[str, str]], dict[str, np.ndarray]]:
    """Three sex groups of 40 images (20 patients x 2): M separable, F random, unknown
    inverted; ages put M in 18-39, F in 65+, 3 unknown-sex films in 0-17 and the rest of the
    unknown-sex films in 40-64, all negative for A there. Label B (= 1 - A) is known on half
    the films (both images of every other patient)."""
    rng = np.random.default_rng(1)
    probs, targets, patients, meta, known_b = [], [], [], [], []
    rows: dict[str, list[int]] = {"M": [], "F": [], "unknown": []}
    for sex, kind in (("M", "separable"), ("F", "random"), ("", "inverted")):
        for i in range(40):
            y = float(i % 2)
            u = rng.uniform()
            p = {"separable": 0.8 * y + 0.2 * u, "random": u,
                 "inverted": 1.0 - (0.8 * y + 0.2 * u)}[kind]
            if sex == "" and i >= 3:
                y, p = 0.0, u  # 40-64: one class only
            age = {"M": "30", "F": "70.0"}.get(sex, "12" if i < 3 else "050Y")
            rows[sex or "unknown"].append(len(probs))
            probs.append([p, 1.0 - p])
            targets.append([y, 1.0 - y])
            patients.append(f"{sex or 'u'}{i // 2}")
            meta.append({"sex": sex, "age": age})
            known_b.append((i // 2) % 2 == 0)
    mask = np.ones((len(probs), 2), dtype=bool)
    mask[:, 1] = known_b
    return (np.array(probs), np.array(targets), mask, patients, meta,
            {k: np.array(v) for k, v in rows.items()})


def test_per_group_figures_match_the_metrics_on_each_subset() -> None:
    probs, targets, mask, patients, meta, rows = _synthetic()
    block = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                factors="sex,age", n_boot=30)
    assert block["factors"] == ["sex", "age"]
    sex = block["by"]["sex"]["groups"]
    assert list(sex) == ["M", "F", "unknown"]
    assert list(block["by"]["age"]["groups"]) == ["0-17", "18-39", "40-64", "65+", "unknown"]
    for group in ("M", "F"):
        r = rows[group]
        g = sex[group]
        assert g["n_images"] == 40 and g["n_patients"] == 20
        a = g["metrics"]["A"]
        assert a["note"] is None and a["n"] == 40 and a["n_pos"] == 20
        assert a["auroc"]["value"] == pytest.approx(cm.auroc(targets[r, 0], probs[r, 0]))
        assert a["auroc"]["ci_low"] <= a["auroc"]["value"] <= a["auroc"]["ci_high"]
        assert a["auroc"]["n"] == 20  # CI resamples patients
        sens, spec = cm.sensitivity_specificity(targets[r, 0], probs[r, 0], 0.5)
        assert a["sens_youden"]["value"] == pytest.approx(sens)
        assert a["spec_youden"]["value"] == pytest.approx(spec)
        known = r[mask[r, 1]]
        assert g["metrics"]["B"]["n"] == len(known) == 20
        assert g["metrics"]["B"]["ap"]["value"] == pytest.approx(
            cm.average_precision(targets[known, 1], probs[known, 1]))
    assert sex["M"]["metrics"]["A"]["auroc"]["value"] == 1.0
    # the age bands hold the same films as the sex groups they were built from
    age = block["by"]["age"]["groups"]
    assert age["18-39"]["metrics"]["A"] == sex["M"]["metrics"]["A"]
    assert age["65+"]["metrics"]["A"] == sex["F"]["metrics"]["A"]
    assert age["unknown"]["n_images"] == 0


def test_whole_set_group_equals_summarise() -> None:
    from radlens.train.calibrate import summarise

    probs, targets, mask, patients, _, _ = _synthetic()
    meta = [{"sex": "F"}] * len(patients)
    block = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                factors="sex", n_boot=25)
    ref = summarise(probs, targets, mask, patients, ["A", "B"], THRESHOLDS, n_boot=25)
    got = block["by"]["sex"]["groups"]["F"]["metrics"]
    for label in ("A", "B"):
        assert {k: v for k, v in got[label].items() if k != "note"} == sg.json_safe(ref[label])


def test_small_and_one_class_groups_get_null_figures_with_a_note() -> None:
    probs, targets, mask, patients, meta, _ = _synthetic()
    block = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                factors="age", n_boot=20, min_samples=10)
    age = block["by"]["age"]["groups"]
    small = age["0-17"]["metrics"]["A"]
    assert age["0-17"]["n_images"] == 3 and small["n"] == 3
    assert "too few samples (3 < 10)" in small["note"]
    assert all(small[k]["value"] is None and small[k]["ci_low"] is None
               for k in sg.METRIC_KEYS)
    one = age["40-64"]["metrics"]["A"]
    assert one["n"] == 37 and one["n_pos"] == 0 and "one class only" in one["note"]
    assert one["auroc"]["value"] is None and one["spec_youden"]["value"] is None
    empty = age["unknown"]["metrics"]["A"]
    assert empty["n"] == 0 and "no images" in empty["note"]
    # a lower bar lets the 3-film band through for A; two of them know B
    loose = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                factors="age", n_boot=20, min_samples=3)
    young = loose["by"]["age"]["groups"]["0-17"]["metrics"]
    assert young["A"]["note"] is None and young["A"]["auroc"]["value"] is not None
    assert young["B"]["note"] == "too few samples (2 < 3)"


def test_largest_gap_names_the_two_groups_and_leaves_out_unknown() -> None:
    probs, targets, mask, patients, meta, rows = _synthetic()
    block = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                factors="sex,age", n_boot=30)
    gap = block["by"]["sex"]["largest_gap"]["A"]["auroc"]
    f_auroc = cm.auroc(targets[rows["F"], 0], probs[rows["F"], 0])
    u_auroc = block["by"]["sex"]["groups"]["unknown"]["metrics"]["A"]["auroc"]["value"]
    assert u_auroc < f_auroc
    # unknown-sex films rank worst (inverted), but "unknown" is no population
    assert gap["high"]["group"] == "M" and gap["low"]["group"] == "F"
    assert gap["gap"] == pytest.approx(1.0 - f_auroc) and gap["metric"] == "auroc"
    assert gap["high"]["ci_low"] is not None
    assert isinstance(gap["ci_overlap"], bool)
    sens = block["by"]["sex"]["largest_gap"]["A"]["sensitivity"]
    s_m = cm.sensitivity_specificity(targets[rows["M"], 0], probs[rows["M"], 0], 0.5)[0]
    s_f = cm.sensitivity_specificity(targets[rows["F"], 0], probs[rows["F"], 0], 0.5)[0]
    assert sens["metric"] == "sens_youden"
    assert sens["gap"] == pytest.approx(abs(s_m - s_f))
    assert {sens["high"]["group"], sens["low"]["group"]} == {"M", "F"}
    # by age only 18-39 and 65+ have figures for A; the one-class and small bands are left out
    age_gap = block["by"]["age"]["largest_gap"]["A"]["auroc"]
    assert (age_gap["high"]["group"], age_gap["low"]["group"]) == ("18-39", "65+")


def test_operating_threshold_chooses_the_gap_figures() -> None:
    probs, targets, mask, patients, meta, rows = _synthetic()
    block = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                                operating={"A": "sens95"}, factors="sex", n_boot=10)
    assert block["operating"] == {"A": "sens95", "B": "youden"}
    spec = block["by"]["sex"]["largest_gap"]["A"]["specificity"]
    assert spec["metric"] == "spec_95"
    s = {g: cm.sensitivity_specificity(targets[rows[g], 0], probs[rows[g], 0], 0.3)[1]
         for g in ("M", "F")}
    assert spec["gap"] == pytest.approx(abs(s["M"] - s["F"]))
    assert block["by"]["sex"]["largest_gap"]["B"]["specificity"]["metric"] == "spec_youden"
    # a kind summarise does not report (the card's joint "operating" threshold) adds figures
    at = {**THRESHOLDS, "A": {**THRESHOLDS["A"], "threshold_operating": 0.7}}
    joint = sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], at,
                                operating={"A": "operating"}, factors="age", n_boot=10)
    sens = joint["by"]["age"]["largest_gap"]["A"]["sensitivity"]
    assert sens["metric"] == "sens_operating"
    s7 = {g: cm.sensitivity_specificity(targets[rows[g], 0], probs[rows[g], 0], 0.7)[0]
          for g in ("M", "F")}
    assert sens["gap"] == pytest.approx(abs(s7["M"] - s7["F"]))
    groups = joint["by"]["age"]["groups"]
    assert groups["18-39"]["metrics"]["A"]["sens_operating"]["value"] == pytest.approx(s7["M"])
    assert groups["0-17"]["metrics"]["A"]["spec_operating"]["value"] is None  # too few
    assert "sens_operating" not in groups["18-39"]["metrics"]["B"]
    with pytest.raises(DataError, match="'best' of A has no threshold_best"):
        sg.subgroup_figures(probs, targets, mask, patients, meta, ["A", "B"], THRESHOLDS,
                            operating={"A": "best"}, n_boot=5)


def test_largest_gap_needs_two_groups_with_figures() -> None:
    nan = float("nan")
    est = {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8}
    one = sg.largest_gap({"M": est, "F": {"value": nan}, "unknown": {"value": 0.1}})
    assert one["gap"] is None and one["high"] is None and "1 group(s)" in one["note"]
    two = sg.largest_gap({"M": est, "F": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}})
    assert two["gap"] == pytest.approx(0.2) and two["ci_overlap"] is False
    assert (two["high"]["group"], two["low"]["group"]) == ("F", "M")
    tie = sg.largest_gap({"M": est, "F": est, "unknown": {"value": 0.1}})
    assert tie["gap"] == 0.0 and tie["ci_overlap"] is True
    assert (tie["high"]["group"], tie["low"]["group"]) == ("M", "F")


def test_degenerate_inputs_never_crash_and_give_standard_json() -> None:
    probs = np.array([[0.2], [0.9], [0.7], [0.4]])
    targets = np.array([[0.0], [1.0], [1.0], [0.0]])
    mask = np.ones((4, 1), dtype=bool)
    meta = [{"sex": "m", "age": "17"}, {"sex": "f", "age": ""}, {}, {"sex": "F", "age": "x"}]
    block = sg.subgroup_figures(probs, targets, mask, list("abcd"), meta, ["A"], {},
                                n_boot=10, min_samples=1)
    text = json.dumps(block, allow_nan=False)  # raises on NaN / Infinity
    assert json.loads(text) == block
    assert block["by"]["age"]["n_unreadable"] == 1
    empty = sg.subgroup_figures(np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1), bool),
                                [], [], ["A"], {}, n_boot=10)
    assert all(g["n_images"] == 0 for g in empty["by"]["sex"]["groups"].values())
    assert empty["by"]["sex"]["largest_gap"]["A"]["auroc"]["gap"] is None
    with pytest.raises(DataError, match="1 metadata records"):
        sg.subgroup_figures(probs, targets, mask, list("abcd"), meta[:1], ["A"], {})


def test_json_safe_replaces_non_finite_numbers() -> None:
    out = sg.json_safe({"a": float("nan"), "b": (np.float32(0.5), np.int64(3), np.inf),
                        "c": [np.bool_(True), None, "x"], 1: -math.inf})
    assert out == {"a": None, "b": [0.5, 3, None], "c": [True, None, "x"], "1": None}
    assert json.dumps(out, allow_nan=False)
