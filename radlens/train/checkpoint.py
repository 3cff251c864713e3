"""Resumable training checkpoints shared by every training loop.

A checkpoint is ``last.pt`` in the run folder: model, optimiser and schedule state plus a
free-form ``state`` dict (epoch, best score, history ...). It is written to ``last.tmp`` first
and renamed over ``last.pt``, so a kill at any moment leaves either the previous checkpoint or
the new one, never a torn file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
log = logging.getLogger(__name__)


def save_checkpoint(out: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    sched: Any, state: dict[str, Any]) -> Path:
    """Atomically write ``out/last.pt`` with the model, optimiser, schedule and `state`."""
    tmp = out / "last.tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "state": state}, tmp)
    os.replace(tmp, out / LAST)
    return out / LAST


def load_checkpoint(out: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                    device: torch.device | str = "cpu") -> dict[str, Any] | None:
    """Restore model, optimiser and schedule from ``out/last.pt`` into the given objects and
    return the saved `state` dict; None when the folder holds no checkpoint."""
    last = out / LAST
    if not last.is_file():
        return None
    ck = torch.load(last, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    state: dict[str, Any] = ck["state"]
    return state


def log_epoch(out: Path, state: dict[str, Any], entry: dict[str, Any]) -> None:
    """Append one epoch's `entry` to ``state["history"]`` and as a line of ``out/log.jsonl``."""
    import json

    state["history"].append(entry)
    with (out / "log.jsonl").open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def share_state(state: dict[str, Any], world: int) -> dict[str, Any]:
    """Rank 0's `state` on every rank of a `world`-process group (unchanged when world is 1)."""
    if world <= 1:
        return state
    import torch.distributed as dist

    box = [state]
    dist.broadcast_object_list(box, src=0)
    shared: dict[str, Any] = box[0]
    return shared


def out_of_time(seconds: float, epochs_done: int, max_minutes: float) -> bool:
    """True (and logs why) when another epoch of the average length so far would take the run
    past `max_minutes`; never before the first epoch or without a budget (`max_minutes` 0).
    `seconds`: training time spent so far over `epochs_done` epochs."""
    if not max_minutes or not epochs_done:
        return False
    if seconds + seconds / epochs_done > max_minutes * 60:
        log.warning("stopping: the next epoch would exceed %.0f minutes", max_minutes)
        return True
    return False


def epoch_shard(n: int, take: int, rank: int, world: int, seed: int, epoch: int
                ) -> tuple[Any, torch.Generator]:
    """This rank's sample indices for `epoch` and its augmentation generator.

    The first `take` indices of a seeded permutation of range(`n`) (the same on every rank),
    dealt round-robin to the `world` ranks; the generator is seeded per epoch and rank."""
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(n, generator=gen).numpy()[:take]
    aug = torch.Generator().manual_seed(seed * 1000 + epoch * 17 + rank + 1)
    return order[rank::world], aug
