"""The model registry: bundled weights with their JSON model cards.

A model is a pair ``<name>.safetensors`` + ``<name>.json`` (the card) in ``radlens/weights``
(package data) or in any folder given by path. The card carries everything needed to use the
weights correctly: labels, input convention, calibration temperatures, thresholds, training
data and licences, validation figures and intended use. Loading checks the weights' SHA-256
against the card, so weights can never be used with the wrong labels or preprocessing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import ModelError
from radlens.schema import ModelInfo

REQUIRED_KEYS = ("name", "version", "task", "weights")
CLASSIFY_KEYS = ("backbone", "labels", "input", "calibration", "thresholds")
log = logging.getLogger(__name__)


def weights_dir() -> Path:
    """The folder of bundled weights and cards (package data ``radlens/weights``)."""
    return Path(str(resources.files("radlens.weights")))


def _card_paths() -> list[Path]:
    return sorted(weights_dir().glob("*.json"))


def list_cards() -> list[dict[str, Any]]:
    """Every valid bundled model card (parsed JSON, any task), sorted by file name.

    [] when none is bundled; an invalid card is logged and left out, so one broken card does
    not hide the others.
    """
    cards = []
    for path in _card_paths():
        try:
            cards.append(read_card(path))
        except ModelError as exc:
            log.warning("ignoring invalid model card %s", exc.one_line())
    return cards


def default_model(task: str = "classify") -> str | None:
    """Name of the bundled model for `task` whose card says ``"default": true`` (else the
    first by file name), or None when no weights are bundled."""
    usable = [c for c in list_cards()
              if c["task"] == task and (weights_dir() / c["weights"]["file"]).is_file()]
    for card in sorted(usable, key=lambda c: not c.get("default", False)):
        return str(card["name"])
    return None


def read_card(path: str | Path) -> dict[str, Any]:
    """Parse and validate a model card; `ModelError` naming the file when it is invalid."""
    p = Path(path)
    try:
        card: dict[str, Any] = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model card ({exc})", p) from exc
    if not isinstance(card, dict):
        raise ModelError("model card is not a JSON object", p)
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if card.get("task") == "classify":
        missing += [k for k in CLASSIFY_KEYS if k not in card]
    if missing:
        raise ModelError(f"model card lacks {', '.join(missing)}", p)
    for label in card.get("labels", []) if card["task"] == "classify" else []:
        if label not in card["thresholds"] or label not in card["calibration"]:
            raise ModelError(f"model card has no threshold/temperature for {label!r}", p)
    card["_path"] = str(p)
    return card


def find_card(model: str, task: str = "classify") -> dict[str, Any]:
    """The card of `model` for `task`: a bundled model name, a card path, or a run folder
    holding model.json. `ModelError` when it is unknown or its card is for another task."""
    p = Path(model).expanduser()
    card: dict[str, Any] | None = None
    if p.is_dir() and (p / "model.json").is_file():
        card = read_card(p / "model.json")
    elif p.suffix == ".json" and p.is_file():
        card = read_card(p)
    else:
        card = next((c for c in list_cards() if c["name"] == model and c["task"] == task), None)
    if card is None:
        names = [c["name"] for c in list_cards() if c["task"] == task]
        raise ModelError(f"unknown model for task {task!r}; bundled: {', '.join(names) or 'none'} "
                         "(or give a model.json path or run folder)", model)
    if card["task"] != task:
        raise ModelError(f"model card is for task {card['task']!r}, not {task!r}", model)
    return card


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A classifier ready for inference with its card and per-label calibration arrays."""

    network: Any  # radlens.models.classifier.FindingClassifier (torch imported lazily)
    card: dict[str, Any]
    temperatures: np.ndarray
    info: ModelInfo
    ood: Any = None  # radlens.models.ood.OODStats when the card has OOD statistics

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.card["labels"])

    def __repr__(self) -> str:  # not the network, card and arrays in full
        return (f"LoadedModel(name={self.info.name!r}, version={self.info.version!r}, "
                f"labels={len(self.labels)}, size={self.size}, "
                f"backbone={self.card.get('backbone')!r}, ood={self.ood is not None})")

    @property
    def size(self) -> int:
        return int(self.card["input"]["size"])

    def population_probabilities(self, probs: np.ndarray, population: str | None
                                 ) -> np.ndarray:
        """`probs` (..., L), calibrated with the card's main (adult) temperatures, re-mapped
        to `population`'s own temperatures when the card has them
        (``population_calibration``, e.g. "paediatric"); unchanged otherwise and when the
        population is unknown. Same shape, values in (0, 1)."""
        table = self.card.get("population_calibration", {}).get(population or "", {})
        if not table:
            return probs
        own = np.array([float(table.get(n, {}).get("temperature", t))
                        for n, t in zip(self.labels, self.temperatures, strict=True)])
        p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
        logits = np.log(p / (1 - p)) * self.temperatures
        out: np.ndarray = (1.0 / (1.0 + np.exp(-logits / own))).astype(np.asarray(probs).dtype)
        return out

    def threshold(self, label: str, kind: str | None = None,
                  population: str | None = None) -> float:
        """Threshold of `label` on calibrated probability: kind "youden", "sens95", "spec95",
        "operating" or the card's default. `population` ("adult", "paediatric"): the card's
        thresholds for that population when it has them (``population_thresholds``); the
        main (adult) thresholds otherwise, and when the population is unknown."""
        table = self.card.get("population_thresholds", {}).get(population or "", {})
        entry = table.get(label) or self.card["thresholds"][label]
        key = kind or entry.get("default", "youden")
        if key not in entry:
            key = entry.get("default", "youden")
        return float(entry[key])


def verified_weights(card: dict[str, Any]) -> tuple[Path, str]:
    """(weights path, SHA-256 hex digest) of a card's weights file, after checking that it
    exists and matches the digest the card records; `ModelError` naming the file otherwise."""
    wpath = Path(card["_path"]).parent / card["weights"]["file"]
    try:
        data = wpath.read_bytes()
    except OSError as exc:
        raise ModelError(f"weights file missing or unreadable ({exc.strerror or exc})",
                         wpath) from exc
    digest = hashlib.sha256(data).hexdigest()
    if card["weights"].get("sha256") and digest != card["weights"]["sha256"]:
        raise ModelError("weights do not match the SHA-256 in the model card", wpath)
    return wpath, digest


@lru_cache(maxsize=4)
def load(model: str) -> LoadedModel:
    """Load a classifier by bundled name or path (cached); checks the weights' SHA-256."""
    from safetensors.torch import load_file

    from radlens.models.classifier import FindingClassifier

    card = find_card(model)
    wpath, digest = verified_weights(card)
    net = FindingClassifier(card["backbone"], len(card["labels"]), pretrained=False)
    try:
        net.net.load_state_dict(load_file(str(wpath)))
    except (RuntimeError, OSError) as exc:
        raise ModelError(f"weights do not fit the card's backbone ({exc})", wpath) from exc
    net.eval()
    temps = np.array([card["calibration"][n]["temperature"] for n in card["labels"]],
                     dtype=np.float32)
    info = ModelInfo(card["name"], str(card["version"]), card["task"], digest)
    stats = None
    if isinstance(card.get("ood"), dict):
        from radlens.models import ood

        opath = Path(card["_path"]).parent / str(card["ood"]["file"])
        expected = card["ood"].get("sha256")
        try:
            blob = opath.read_bytes()
        except OSError as exc:
            raise ModelError(f"OOD statistics missing or unreadable ({exc.strerror or exc})",
                             opath) from exc
        if expected and hashlib.sha256(blob).hexdigest() != expected:
            raise ModelError("OOD statistics do not match the SHA-256 in the model card", opath)
        stats = ood.load(opath)
    return LoadedModel(net, card, temps, info, stats)
