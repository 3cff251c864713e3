"""Splits are by patient, reproducible from a seed, and keep every source in every split."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.data.samples import Dataset, make_sample
from radlens.data.splits import assign_patients, split_by_patient
from radlens.errors import DataError


def _dataset(n_patients: int = 60, per_patient: int = 3) -> Dataset:
    names = ("Pneumonia", "No Finding")
    samples = []
    for p in range(n_patients):
        for i in range(per_patient):
            pos = float(p % 3 == 0)
            samples.append(make_sample(f"/x/{p}_{i}.png", {"Pneumonia": pos,
                                                          "No Finding": 1 - pos},
                                       names, f"p{p}", "a" if p < 40 else "b"))
    return Dataset("toy", names, tuple(samples))


def test_no_patient_in_two_splits_and_fractions_hold() -> None:
    train, val = split_by_patient(_dataset(), (0.75, 0.25), seed=3)
    assert not {s.patient_id for s in train.samples} & {s.patient_id for s in val.samples}
    assert len(train) + len(val) == 180
    assert abs(len(val) / 180 - 0.25) < 0.06
    assert {s.source for s in val.samples} == {"a", "b"}  # every source represented
    assert {float(s.labels[0]) for s in val.samples} == {0.0, 1.0}


def test_seed_reproducible_and_order_independent() -> None:
    ds = _dataset()
    shuffled = Dataset("toy", ds.label_names,
                       tuple(ds.samples[i] for i in np.random.default_rng(1).permutation(180)))
    assert assign_patients(ds, (0.8, 0.2), 7) == assign_patients(shuffled, (0.8, 0.2), 7)
    assert assign_patients(ds, (0.8, 0.2), 7) != assign_patients(ds, (0.8, 0.2), 8)


def test_bad_fractions() -> None:
    with pytest.raises(DataError, match="fractions"):
        split_by_patient(_dataset(), (0.8, 0.3))
