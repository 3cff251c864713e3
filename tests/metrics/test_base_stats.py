"""The registry, the uniform result interface, and the CI / significance machinery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radlens.errors import DataError
from radlens.metrics.base import Aggregate, MetricResult, available, get_metric
from radlens.metrics.stats import paired_randomization_test, paired_randomization_test_sums
from radlens.metrics.text import bleu_from_sums

REFS = ["the lungs are clear .", "no pleural effusion .", "heart size is normal ."]
HYPS = ["lungs are clear .", "small left pleural effusion .", "the heart is normal ."]


def test_registry_lists_and_builds_metrics() -> None:
    assert {"bleu", "rexrank_bleu", "rouge", "radlens_f1"} <= set(available())
    assert get_metric(" BLEU ").name == "bleu"
    with pytest.raises(DataError, match="unknown metric 'bleurt'"):
        get_metric("bleurt")


@pytest.mark.parametrize("name", ["bleu", "rexrank_bleu", "rouge"])
def test_every_metric_returns_the_same_shape_of_result(name: str) -> None:
    res = get_metric(name).compute(REFS, HYPS, ids=["a", "b", "c"])
    assert isinstance(res, MetricResult) and res.metric == name
    assert res.ids == ("a", "b", "c")
    assert res.aggregates and all(v.shape == (3,) for v in res.per_pair.values())
    for agg in res.aggregates.values():
        assert 0.0 <= agg.value <= 1.0 and agg.stats.shape[0] == 3
    data = res.to_dict(n_boot=50, per_pair=True)
    json.dumps(data, allow_nan=False)
    first = next(iter(data["aggregates"].values()))
    assert first["ci_low"] <= first["value"] <= first["ci_high"]
    assert data["per_pair"]["ids"] == ["a", "b", "c"]


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(DataError, match="3 references but 2 candidates"):
        get_metric("rouge").compute(REFS, HYPS[:2])


def test_mean_aggregate_and_bootstrap() -> None:
    values = np.linspace(0, 1, 101)
    agg = Aggregate.mean("x", values)
    assert agg.value == pytest.approx(0.5)
    est = agg.confidence_interval(n_boot=500, seed=1)
    assert 0.4 < est.low < 0.5 < est.high < 0.6
    assert est.n == 101


def test_sums_test_equals_the_generic_test() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 5, size=(40, 10))
    b = rng.integers(0, 5, size=(40, 10))
    a[:, 0], b[:, 0] = a[:, 0] + 5, b[:, 0] + 5  # lengths

    def fn(sums: np.ndarray) -> np.ndarray:
        return bleu_from_sums(sums, 2)

    generic = paired_randomization_test(a, b, statistic=lambda s: float(fn(s.sum(0)[None])[0]),
                                        n_perm=400, seed=3)
    fast = paired_randomization_test_sums(a, b, fn, n_perm=400, seed=3)
    assert fast == generic
    # the vectorised mean path equals the loop over permutations
    x, y = rng.random(30), rng.random(30) + 0.1
    loop = paired_randomization_test(x[:, None], y[:, None], n_perm=300, seed=2)
    assert paired_randomization_test(x, y, n_perm=300, seed=2) == loop


def test_randomisation_test_separates_and_does_not() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    better = Aggregate.mean("x", base + 0.2)
    same = Aggregate.mean("x", base + rng.normal(0, 0.01, 200))
    ref = Aggregate.mean("x", base)
    assert ref.compare(better, n_perm=2000) < 0.001
    assert ref.compare(same, n_perm=2000) > 0.05
    with pytest.raises(DataError, match="different pairs"):
        ref.compare(Aggregate.mean("x", base[:10]))
