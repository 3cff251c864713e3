"""Training progress: an epoch bar showing the running loss and the validation AUROC, and the
line that says why training stopped.

The bar (tqdm on stderr) counts steps; its postfix shows ``loss`` (mean training loss so far
this epoch) while the epoch runs and, once the epoch's validation is done, ``val_auroc`` (the
epoch's mean validation AUROC) and ``best`` (the best so far, with its epoch). Training loops
(`radlens.train.loop`, `radlens.train.frozen`) use `EpochBar` and log `stop_message`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


class EpochBar:
    """A step bar for one epoch; a no-op when `show` is False.

    `epoch` is 0-based (shown 1-based, as "epoch 3/10"). `last`: the previous epoch's mean
    validation AUROC, shown until this epoch's is known (None: not yet validated).
    """

    def __init__(self, steps: int, epoch: int, epochs: int, show: bool,
                 last: float | None = None) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                              file=sys.stderr, disable=not show, dynamic_ncols=True)
        self._last = last
        self._total = 0.0
        self._steps = 0

    def step(self, loss: float) -> None:
        """One training step done with this batch `loss`."""
        self._total += loss
        self._steps += 1
        self._bar.update(1)
        if self._steps % 10 == 1 or self._steps == self._bar.total:
            post = {"loss": f"{self.mean_loss:.4f}"}
            if self._last is not None:
                post["val_auroc"] = f"{self._last:.4f} (prev)"
            self._bar.set_postfix(post, refresh=False)

    @property
    def mean_loss(self) -> float:
        """Mean training loss of the steps so far (0 before the first)."""
        return self._total / self._steps if self._steps else 0.0

    def validated(self, auroc: float, best: float, best_epoch: int) -> None:
        """Show this epoch's mean validation `auroc` and the best so far, then close."""
        self._bar.set_postfix({"loss": f"{self.mean_loss:.4f}", "val_auroc": f"{auroc:.4f}",
                               "best": f"{best:.4f} @{best_epoch}"})
        self._bar.close()

    def close(self) -> None:
        """Close without validation figures (e.g. a non-zero DDP rank)."""
        self._bar.close()


def stop_message(state: dict[str, Any], epochs: int, patience: int) -> str:
    """Why a training run stopped, from its state (``epoch``, ``best``, ``best_epoch``,
    ``stale``): "stopped early at epoch k (best j, validation AUROC x): no gain for p epochs",
    "finished all N epochs (best j, ...)" or "stopped at epoch k by the time budget (...)"."""
    best = f"best {state['best_epoch']}, validation AUROC {state['best']:.4f}"
    if state["epoch"] >= epochs:
        return f"finished all {epochs} epochs ({best})"
    if state["stale"] >= patience:
        return (f"stopped early at epoch {state['epoch']} ({best}): no gain for "
                f"{state['stale']} epochs (patience {patience})")
    return f"stopped at epoch {state['epoch']} by the time budget ({best})"
