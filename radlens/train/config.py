"""Training configuration for the finding classifier (all fields have CLI flags)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    `data`: dataset specs (see `radlens.data.spec`); `labels`: label names to learn; `out`: run
    folder (checkpoints, log, exported model). `size`: square input side in pixels. `epochs`:
    maximum epochs; `patience`: epochs without validation-AUROC improvement before stopping.
    `lr`, `weight_decay`: AdamW; the schedule is linear warm-up over `warmup_epochs` then cosine
    decay to 0. `batch_size` is the global batch (split across DDP processes). `val_fraction`
    of patients (per source) go to validation, chosen by `seed`. `max_minutes`: stop before an
    epoch that would end after this many minutes of training (0: no limit). `augment`: random
    radiograph augmentation of training batches (`radlens.data.transforms.augment_batch`; with
    frozen blocks, a one-cell shift of the cached features). `freeze_blocks` > 0: keep the stem
    and that many leading backbone blocks at their ImageNet weights and train the rest on cached
    features (`radlens.train.frozen`). `max_per_source`: at most this many training images of
    one source per epoch (0: all; frozen recipe only). `cache_dir`: where decoded images and
    features are cached (default: the run folder). `corrupt_augment`: also corrupt half of each
    training batch with a random MedMNIST-C family and severity (MedMNIST runs only,
    `radlens.train.medmnist`; off by default).
    """

    data: tuple[str, ...]
    labels: tuple[str, ...]
    out: str
    backbone: str = "efficientnet-lite0"
    pretrained: bool = True
    size: int = 160
    epochs: int = 10
    patience: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    val_fraction: float = 0.2
    seed: int = 0
    max_minutes: float = 0.0
    threads: int = 2
    augment: bool = True
    name: str = "radlens-cxr-classifier"
    freeze_blocks: int = 0
    max_per_source: int = 0
    cache_dir: str = ""
    card_extra: str = ""
    corrupt_augment: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
