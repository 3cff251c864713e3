"""One interface for every report-generation metric, and the registry that names them.

Every metric takes reference and candidate texts paired by position and returns a
`MetricResult` holding, uniformly:

* ``aggregates``: named corpus-level values (e.g. ``bleu4``), each an `Aggregate` that keeps the
  per-pair *sufficient statistics* and the function of their column sums giving the value. This
  is what makes bootstrap confidence intervals and paired significance tests work for every
  metric, including those that are not a mean of per-pair values (corpus BLEU, micro F1).
* ``per_pair``: named per-pair values (arrays of length n, in input order).
* ``details``: extra JSON-serialisable information (settings, per-label tables, ...).

Metrics register themselves with `register`; `get_metric("bleu")` returns an instance and
`available()` lists the names.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from radlens.errors import DataError
from radlens.metrics.stats import Estimate, bootstrap_ci, paired_randomization_test_sums

SumsFn = Callable[[np.ndarray], np.ndarray]


def mean_from_sums(sums: np.ndarray) -> np.ndarray:
    """`Aggregate.from_sums` of a mean: per-pair stats are ``[value, 1]``."""
    return _safe_div(sums[:, 0], sums[:, 1])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True, eq=False)
class Aggregate:
    """A corpus-level value that is a function of column sums of per-pair statistics.

    `stats` has shape (n, k): row i holds what pair i contributes (for a mean ``[value, 1]``;
    for corpus BLEU its n-gram counts; for F1 its TP/FP/FN). `from_sums` maps an (m, k) array of
    column sums (m sets of pairs at once) to the m aggregate values. Every metric here fits this
    form, which makes bootstrap CIs and the paired randomisation test exact and fast.
    """

    name: str
    stats: np.ndarray
    from_sums: SumsFn
    higher_is_better: bool = True

    @classmethod
    def mean(cls, name: str, values: np.ndarray) -> Aggregate:
        """The mean of per-pair `values` (shape (n,))."""
        values = np.asarray(values, dtype=float)
        return cls(name, np.stack([values, np.ones_like(values)], axis=1), mean_from_sums)

    def reduce(self, stats: np.ndarray) -> float:
        """The aggregate over the pairs whose rows are `stats` (rows may repeat)."""
        return float(self.from_sums(np.asarray(stats, dtype=float).sum(axis=0)[None, :])[0])

    @property
    def value(self) -> float:
        """The aggregate over every pair."""
        return self.reduce(self.stats)

    @property
    def n(self) -> int:
        """Number of pairs."""
        return int(self.stats.shape[0])

    def confidence_interval(self, n_boot: int = 1000, alpha: float = 0.05,
                            seed: int = 0) -> Estimate:
        """Percentile bootstrap (1 - alpha) CI, resampling pairs with replacement."""
        return bootstrap_ci(lambda idx: self.reduce(self.stats[idx]), self.n, n_boot=n_boot,
                            alpha=alpha, seed=seed)

    def compare(self, other: Aggregate, n_perm: int = 10000, seed: int = 0) -> float:
        """p-value of the paired approximate-randomisation test that `self` and `other` (the
        same aggregate for two systems on the same pairs, same order) have the same value."""
        if self.stats.shape != other.stats.shape:
            raise DataError(f"cannot compare {self.name!r}: the two systems were scored on "
                            f"different pairs ({self.n} vs {other.n})")
        return paired_randomization_test_sums(self.stats, other.stats, self.from_sums,
                                              n_perm=n_perm, seed=seed)


@dataclass(frozen=True, eq=False)
class MetricResult:
    """What every metric returns: aggregates, per-pair values and details (see module doc)."""

    metric: str
    ids: tuple[str, ...]
    aggregates: Mapping[str, Aggregate]
    per_pair: Mapping[str, np.ndarray] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """Aggregate name -> value."""
        return {name: agg.value for name, agg in self.aggregates.items()}

    def __getitem__(self, name: str) -> float:
        return self.aggregates[name].value

    def to_dict(self, n_boot: int = 0, alpha: float = 0.05, seed: int = 0,
                per_pair: bool = False) -> dict[str, Any]:
        """JSON-serialisable form. With ``n_boot > 0`` every aggregate carries its bootstrap CI
        (``ci_low``, ``ci_high``); with `per_pair` the per-pair arrays are included as lists
        (NaN becomes None)."""
        aggs: dict[str, Any] = {}
        for name, agg in self.aggregates.items():
            if n_boot > 0:
                est = agg.confidence_interval(n_boot=n_boot, alpha=alpha, seed=seed)
                aggs[name] = {"value": _num(est.value), "ci_low": _num(est.low),
                              "ci_high": _num(est.high)}
            else:
                aggs[name] = {"value": _num(agg.value)}
        out: dict[str, Any] = {"metric": self.metric, "n": len(self.ids), "aggregates": aggs,
                               "details": dict(self.details)}
        if n_boot > 0:
            out["ci"] = {"method": "percentile bootstrap over pairs", "level": 1 - alpha,
                         "n_boot": n_boot, "seed": seed}
        if per_pair:
            out["per_pair"] = {"ids": list(self.ids),
                               **{k: [_num(x) for x in v] for k, v in self.per_pair.items()}}
        return out


def _num(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


class Metric(ABC):
    """Base class of every metric. Subclasses set `name` and implement `compute`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @abstractmethod
    def compute(self, refs: Sequence[str], hyps: Sequence[str],
                ids: Sequence[str] | None = None) -> MetricResult:
        """Score candidate texts `hyps` against references `refs` (same length, paired by
        position). `ids` names the pairs (default "0", "1", ...)."""

    @staticmethod
    def check_inputs(refs: Sequence[object], hyps: Sequence[object],
                     ids: Sequence[str] | None) -> tuple[str, ...]:
        """Validate lengths and return the pair ids as a tuple."""
        if len(refs) != len(hyps):
            raise DataError(f"{len(refs)} references but {len(hyps)} candidates")
        if ids is None:
            return tuple(str(i) for i in range(len(refs)))
        if len(ids) != len(refs):
            raise DataError(f"{len(ids)} ids for {len(refs)} pairs")
        return tuple(str(i) for i in ids)


_REGISTRY: dict[str, type[Metric]] = {}
# Modules whose import registers the built-in metrics.
_BUILTIN_MODULES = ("radlens.metrics.text", "radlens.metrics.clinical")

M = TypeVar("M", bound=type[Metric])


def register(cls: M) -> M:
    """Class decorator adding a `Metric` subclass to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"metric name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available() -> tuple[str, ...]:
    """Names of the registered metrics, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_metric(name: str, **options: Any) -> Metric:
    """A new instance of the metric registered as `name` (options go to its constructor).

    Raises `DataError` naming the available metrics when `name` is unknown.
    """
    _load_builtins()
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise DataError(f"unknown metric {name!r}; choose from {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[key](**options)


def score(refs: Sequence[str], hyps: Sequence[str],
          metrics: Sequence[str] = ("bleu", "rexrank_bleu", "rouge", "radlens_f1"),
          ids: Sequence[str] | None = None) -> dict[str, MetricResult]:
    """Score candidate reports `hyps` against references `refs` (paired by position) with each
    named metric; returns metric name -> `MetricResult`."""
    return {name: get_metric(name).compute(refs, hyps, ids) for name in metrics}
