"""Patient-level, seeded, reproducible splits.

Patients (never images) are assigned to splits. Each source is split on its own, and within a
source patients are stratified by whether any of their images is positive for any label, so a
small source still appears in every split with both classes when it can.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from radlens.data.samples import Dataset
from radlens.errors import DataError


def _stable_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def assign_patients(dataset: Dataset, fractions: Sequence[float],
                    seed: int = 0) -> dict[str, int]:
    """Map every patient id to a split index (0..len(fractions)-1).

    `fractions` must be positive and sum to 1 (e.g. (0.8, 0.2)). The result depends only on
    the seed and the set of patients and their labels, not on file order.
    """
    f = np.asarray(fractions, dtype=float)
    if f.ndim != 1 or len(f) < 2 or (f <= 0).any() or abs(f.sum() - 1) > 1e-6:
        raise DataError(f"split fractions must be positive and sum to 1, got {list(fractions)}")
    groups: dict[tuple[str, bool], set[str]] = defaultdict(set)
    positive: dict[str, bool] = defaultdict(bool)
    findings = np.array([n.lower() != "no finding" for n in dataset.label_names])
    for s in dataset.samples:
        # stratum: does the patient have any known positive finding (No Finding aside)?
        positive[s.patient_id] |= bool((s.labels * s.mask * findings).any())
    for s in dataset.samples:
        groups[(s.source, positive[s.patient_id])].add(s.patient_id)
    out: dict[str, int] = {}
    for key in sorted(groups):
        ids = sorted(groups[key])
        rng = np.random.default_rng(_stable_seed(seed, f"{key[0]}|{key[1]}"))
        order = [ids[i] for i in rng.permutation(len(ids))]
        cuts = np.round(np.cumsum(f)[:-1] * len(order)).astype(int)
        for split, chunk in enumerate(np.split(np.array(order, dtype=object), cuts)):
            out.update({str(pid): split for pid in chunk})
    return out


def split_by_patient(dataset: Dataset, fractions: Sequence[float] = (0.8, 0.2),
                     seed: int = 0) -> list[Dataset]:
    """Split `dataset` into len(fractions) datasets by patient (see `assign_patients`)."""
    assignment = assign_patients(dataset, fractions, seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for i, s in enumerate(dataset.samples):
        parts[assignment[s.patient_id]].append(i)
    names = ("train", "val", "test")
    return [dataclasses.replace(dataset, name=f"{dataset.name}/{names[k] if k < 3 else k}",
                                samples=tuple(dataset.samples[i] for i in idx), skipped=())
            for k, idx in enumerate(parts)]
