"""The dual encoder: EfficientNet-Lite0 image tower + sentence-encoder features, projected into
one shared space, trained with a symmetric, label-aware InfoNCE loss and a learnable temperature.

Image input: (N, 1, S, S) grey pixels in [0, 1], air dark (as `radlens.io.load_image` gives
them, resized with `radlens.vlm.model.preprocess`). Text input: 384-d MiniLM sentence
embeddings (`radlens.vlm.text`). Both outputs are L2-normalised `embed_dim` vectors, so cosine
similarity is a dot product. The text tower itself is not part of this module's state: it comes
from its own package (see the model card's ``text_tower`` entry).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from radlens.models.efficientnet import EfficientNetLite, adapt_state_dict

MAX_LOGIT_SCALE = 100.0


def projection(d_in: int, d_out: int, hidden: int = 512) -> nn.Sequential:
    """Two-layer MLP projection head (ConVIRT style): Linear, GELU, Linear."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))


class DualEncoder(nn.Module):
    """Image tower + projection heads + learnable temperature.

    `embed_dim`: shared space size; `text_dim`: sentence-feature size (384 for MiniLM);
    `pretrained`: start the image tower from the ImageNet EfficientNet-Lite0 weights;
    `freeze_blocks`: the stem and the first N MBConv blocks are frozen (run without gradients),
    which halves CPU training time and keeps low-level ImageNet filters; `temperature`: initial
    softmax temperature (logit scale = 1 / temperature, learnt, capped at 100).
    """

    def __init__(self, embed_dim: int = 256, text_dim: int = 384, pretrained: bool = True,
                 freeze_blocks: int = 0, temperature: float = 0.07) -> None:
        super().__init__()
        self.image = EfficientNetLite(num_classes=0, in_channels=1)
        if pretrained:
            from radlens.models.backbones import efficientnet_lite0_imagenet_state

            state = adapt_state_dict(efficientnet_lite0_imagenet_state(), 1, keep_fc=False)
            self.image.load_state_dict(state, strict=True)
        self.image_proj = projection(EfficientNetLite.feature_dim, embed_dim)
        self.text_proj = projection(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.mean, self.std = 0.5, 0.5
        self.embed_dim, self.text_dim = embed_dim, text_dim
        self.freeze_blocks = freeze_blocks
        frozen = [self.image._conv_stem, self.image._bn0, *self.image._blocks[:freeze_blocks]]
        for module in frozen if freeze_blocks else []:
            for p in module.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> DualEncoder:
        super().train(mode)
        if self.freeze_blocks:  # frozen blocks keep their batch-norm statistics
            for module in (self.image._bn0, *self.image._blocks[:self.freeze_blocks]):
                module.eval()
        return self

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d image features for [0, 1] input (N, 1, S, S)."""
        x = (x - self.mean) / self.std
        net = self.image
        k = self.freeze_blocks
        with torch.set_grad_enabled(torch.is_grad_enabled() and k == 0):
            h = F.relu6(net._bn0(net._conv_stem(x)))
            for block in net._blocks[:k]:
                h = block(h)
        for block in net._blocks[k:]:
            h = block(h)
        h = F.relu6(net._bn1(net._conv_head(h)))
        return h.mean(dim=(2, 3))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings (N, embed_dim) for [0, 1] input (N, 1, S, S)."""
        return F.normalize(self.image_proj(self.image_features(x)), dim=-1)

    def encode_text(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings (N, embed_dim) from sentence features (N, text_dim)."""
        return F.normalize(self.text_proj(features), dim=-1)

    def forward(self, x: torch.Tensor, features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(image embeddings, text embeddings) of matched images and sentence features."""
        return self.encode_image(x), self.encode_text(features)

    def scale(self) -> torch.Tensor:
        """The current logit scale (1 / temperature), capped at `MAX_LOGIT_SCALE`."""
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)


class _GatherRows(torch.autograd.Function):
    """All-gather along dim 0 (equal rows per rank); the backward sums the incoming gradient
    over ranks and returns this rank's rows (plain gloo collectives: all_gather, all_reduce)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_batch(img: torch.Tensor, txt: torch.Tensor, groups: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Every process's (N, D) `img` / `txt` embeddings and (N,) `groups`, concatenated in rank
    order (rows of rank 0 first), so the contrastive loss sees the whole global batch as
    negatives. Embeddings keep their gradient: the backward sums every rank's gradient onto
    its own rows, and DDP's averaging then gives the gradient of the global-batch loss. Needs
    an initialised process group and equal N on every rank; returns the inputs unchanged when
    there is no process group.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return img, txt, groups
    img_all, txt_all = _GatherRows.apply(img), _GatherRows.apply(txt)
    if groups is None:
        return img_all, txt_all, None
    parts = [torch.empty_like(groups) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, groups.contiguous())
    return img_all, txt_all, torch.cat(parts, 0)


def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor,
                     groups: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between matched rows of `img` and `txt` (both (N, D), normalised).

    `groups`: (N,) integer finding-set ids. Label-aware targets: pairs i, j with the same
    group are both correct matches (the soft target spreads evenly over them), so two images
    with the same findings are never pushed apart as negatives (CoGaze "hybrid positives",
    MedCLIP semantic matching). Without `groups` this is the plain CLIP loss.
    """
    logits = scale * img @ txt.t()
    n = logits.shape[0]
    if groups is None:
        target = torch.eye(n, device=logits.device)
    else:
        same = (groups[:, None] == groups[None, :]).float()
        target = same / same.sum(dim=1, keepdim=True)
    loss_i = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(target.t() * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return (loss_i + loss_t) / 2
