"""The contrastive loss: symmetric InfoNCE and its label-aware variant."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from radlens.models.vlm import DualEncoder, contrastive_loss


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def test_plain_loss_is_clip_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    img, txt = _unit(torch.randn(6, 8, generator=g)), _unit(torch.randn(6, 8, generator=g))
    scale = torch.tensor(10.0)
    logits = scale * img @ txt.t()
    want = (F.cross_entropy(logits, torch.arange(6)) +
            F.cross_entropy(logits.t(), torch.arange(6))) / 2
    assert torch.allclose(contrastive_loss(img, txt, scale), want, atol=1e-6)


def test_aligned_pairs_score_lower_than_shuffled() -> None:
    x = _unit(torch.eye(5, 8))
    scale = torch.tensor(20.0)
    assert contrastive_loss(x, x, scale) < contrastive_loss(x, x.roll(1, 0), scale) - 1


def test_same_finding_pairs_are_not_negatives() -> None:
    # Swapping the texts of two images with the same findings changes nothing for the
    # label-aware loss (each counts as a match of the other), while the plain loss gets worse.
    g = torch.Generator().manual_seed(1)
    img = _unit(torch.randn(5, 8, generator=g))
    txt = _unit(img + 0.1 * torch.randn(5, 8, generator=g))
    scale = torch.tensor(20.0)
    groups = torch.tensor([0, 0, 1, 2, 3])
    swapped = txt[[1, 0, 2, 3, 4]]
    aware = contrastive_loss(img, txt, scale, groups)
    assert torch.allclose(contrastive_loss(img, swapped, scale, groups), aware, atol=1e-6)
    assert contrastive_loss(img, swapped, scale) > contrastive_loss(img, txt, scale) + 1
    # swapping across different findings is still penalised
    assert contrastive_loss(img, txt[[0, 1, 3, 2, 4]], scale, groups) > aware + 1


def test_dual_encoder_shapes_and_gradients() -> None:
    model = DualEncoder(embed_dim=16, text_dim=12, pretrained=False, freeze_blocks=3)
    model.train()
    x = torch.rand(4, 1, 64, 64)
    img, txt = model(x, torch.randn(4, 12))
    assert img.shape == txt.shape == (4, 16)
    assert torch.allclose(img.norm(dim=1), torch.ones(4), atol=1e-5)
    contrastive_loss(img, txt, model.scale(), torch.tensor([0, 0, 1, 2])).backward()
    assert model.image._conv_stem.weight.grad is None  # frozen
    assert model.image._blocks[2].training is False  # frozen blocks keep BN statistics
    assert all(p.grad is not None for p in model.image._blocks[5].parameters())
    assert model.logit_scale.grad is not None
    assert model.text_proj[0].weight.grad is not None


def _gather_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    from radlens.models.vlm import gather_batch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    g = torch.Generator().manual_seed(0)
    img_all, txt_all = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    groups_all = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0])
    rows = slice(rank * 4, rank * 4 + 4)
    img = img_all[rows].clone().requires_grad_(True)
    txt = txt_all[rows].clone().requires_grad_(True)
    gi, gt, gg = gather_batch(_unit(img), _unit(txt), groups_all[rows])
    loss = contrastive_loss(gi, gt, torch.tensor(5.0), gg)
    loss.backward()
    assert img.grad is not None and txt.grad is not None
    torch.save({"loss": loss.detach(), "groups": gg, "gi": img.grad / world,
                "gt": txt.grad / world}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_gathered_loss_equals_single_process_global_batch(tmp_path: Path) -> None:
    """Two gloo processes with 4 rows each: the gathered loss and the (DDP-averaged) gradients
    equal one process computing the loss over all 8 rows."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_gather_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    g = torch.Generator().manual_seed(0)
    img = torch.randn(8, 4, generator=g).requires_grad_(True)
    txt = torch.randn(8, 4, generator=g).requires_grad_(True)
    groups = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0])
    loss = contrastive_loss(_unit(img), _unit(txt), torch.tensor(5.0), groups)
    loss.backward()
    assert img.grad is not None and txt.grad is not None
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        rows = slice(rank * 4, rank * 4 + 4)
        assert torch.allclose(got["loss"], loss.detach(), atol=1e-6)
        assert torch.equal(got["groups"], groups)
        assert torch.allclose(got["gi"], img.grad[rows], atol=1e-6)
        assert torch.allclose(got["gt"], txt.grad[rows], atol=1e-6)
