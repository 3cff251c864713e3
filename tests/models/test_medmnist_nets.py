"""MedMNIST backbones: the backbone contract, dilated neighbourhood attention, KAN layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from radlens.errors import ModelError
from radlens.models import backbones
from radlens.models import medmnist_nets as mn


@pytest.mark.parametrize(("name", "shape"), [
    ("resnet18", (2, 1, 28, 28)), ("resnet18", (2, 3, 28, 28)),
    ("medvit-hybrid", (2, 1, 28, 28)), ("medvit-hybrid", (2, 3, 28, 28)),
    ("cnn3d", (2, 1, 28, 28, 28))])
def test_backbone_contract(name: str, shape: tuple[int, ...]) -> None:
    net = backbones.build(name, 5, in_channels=shape[1], pretrained=False)
    x = torch.rand(*shape)
    fmap = net.feature_map(x)
    out = net(x)
    assert out.shape == (2, 5)
    torch.testing.assert_close(net.head(fmap), out)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_registered_and_no_pretrained_weights() -> None:
    assert {"resnet18", "medvit-hybrid", "cnn3d"} <= set(backbones.names())
    with pytest.raises(ModelError, match="no pretrained"):
        backbones.build("medvit-hybrid", 2, 1, pretrained=True)


def test_resnet18_is_the_28px_variant() -> None:
    net = mn.ResNet18(2)
    assert net.stem[0].kernel_size == (3, 3) and net.stem[0].stride == (1, 1)
    assert net.feature_map(torch.rand(1, 1, 28, 28)).shape == (1, 512, 4, 4)
    assert 11_000_000 < sum(p.numel() for p in net.parameters()) < 11_300_000


def test_dilated_neighbourhood_attention_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    attn = mn.DilatedNeighbourhoodAttention(8, heads=2, kernel=3, dilation=2).eval()
    with torch.no_grad():
        attn.bias.normal_()
    x = torch.randn(1, 8, 7, 7)
    out = attn(x)
    q, k, v = attn.qkv(x).chunk(3, dim=1)
    for (i, j) in [(3, 3), (0, 0), (6, 2)]:
        heads = []
        for h in range(2):
            sl = slice(4 * h, 4 * h + 4)
            logits, vals = [], []
            for a in range(3):
                for b in range(3):
                    y, z = i + (a - 1) * 2, j + (b - 1) * 2
                    if 0 <= y < 7 and 0 <= z < 7:
                        logits.append((q[0, sl, i, j] * k[0, sl, y, z]).sum() * 0.5
                                      + attn.bias[h, a * 3 + b])
                        vals.append(v[0, sl, y, z])
            w = torch.softmax(torch.stack(logits), 0)
            heads.append((w[:, None] * torch.stack(vals)).sum(0))
        expect = F.conv2d(torch.cat(heads)[None, :, None, None], attn.proj.weight,
                          attn.proj.bias)[0, :, 0, 0]
        torch.testing.assert_close(out[0, :, i, j], expect, rtol=1e-4, atol=1e-5)


def test_kan_layer_is_a_sum_of_univariate_functions() -> None:
    torch.manual_seed(0)
    kan = mn.KANLayer(4, 3, grid=5)
    x = torch.randn(6, 4)
    assert kan(x).shape == (6, 3)
    # no cross terms after the normalisation: d2 y / dz_a dz_b = 0 for a != b
    z = kan.norm(x)[0].detach().requires_grad_(True)
    centres = kan.centres

    def f(zz: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-((zz[..., None] - centres) * kan.inv_h) ** 2)
        return (kan.base(F.silu(zz)) + kan.spline(basis.reshape(-1)))[0]

    hess = torch.autograd.functional.hessian(f, z)
    off = hess - torch.diag_embed(torch.diagonal(hess))
    assert float(off.abs().max()) < 1e-6
