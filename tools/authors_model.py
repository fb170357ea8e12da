"""The authors' computation of TDS-CLIP, for ``tools/benchmark.py``.

What this measures against: TDS-CLIP computed the way the authors' released
code computes it, so that the benchmark's ratios are against their cost, not
against a slower stand-in. Written from the specification
(``TDS-CLIP-SPEC.md`` sections 2-6), importing nothing from
``mmaction_tdsclip``:

* their module layout and parameter names (``state_dict()`` keys are those
  of the released checkpoints: ``visual.*`` and ``fc.*``);
* their operations: OpenAI-CLIP blocks with ``nn.MultiheadAttention`` on
  sequence-first tokens ``(L, M, W)``, ``need_weights=False``; the side
  network batched over all ``B*T`` frames with ``Conv3d`` / ``BatchNorm3d``
  on the ``(B, D, T, h, w)`` layout, ``Conv2d`` / ``BatchNorm2d`` and
  ``max_pool3d`` in the TD-Adapter, ``nn.MultiheadAttention`` in the side
  blocks; the frozen and the side blocks interleaved layer by layer;
* fp32 everywhere; no autograd through CLIP because its parameters are
  frozen and its input carries no gradient (nothing is saved for it).

``tests/tools/test_authors_model.py`` checks that it computes what
``tests/reference/authors_tdsclip.py`` (the independent ground truth of the
checkpoint converter, written the plain way with per-frame loops, which make
it far slower than the released code) computes: same logits and gradients
from the same weights.

Input: CLIP-normalised clips ``(B, 3, T*n, H, W)``, segment-major. Output:
logits ``(B, num_classes)``.
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

#: (width, layers, heads, patch) of the frozen tower and the side width.
ARCHS = {
    'ViT-B/16': dict(width=768, layers=12, heads=12, patch_size=16, side_width=320),
    'ViT-L/14': dict(width=1024, layers=24, heads=16, patch_size=14, side_width=512),
}


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """OpenAI CLIP's block on ``(L, M, W)`` tokens."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ('c_fc', nn.Linear(width, 4 * width)),
                    ('gelu', QuickGELU()),
                    ('c_proj', nn.Linear(4 * width, width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class TemporalDifference(nn.Module):
    """TD-Adapter (pool mode, kernel 3, r = 16) on ``(B, C, T, h, w)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // 16
        self.conv1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, C, T, h, w = z.shape
        zr = self.bn1(self.conv1(z.transpose(1, 2).reshape(B * T, C, h, w)))
        zr = zr.reshape(B, T, -1, h, w).transpose(1, 2)
        d = zr - F.max_pool3d(zr, (3, 1, 1), stride=1, padding=(1, 0, 0))
        y = 0.5 * d + 0.5 * d.mean(dim=1, keepdim=True)
        y = self.bn2(self.conv2(y.transpose(1, 2).reshape(B * T, -1, h, w)))
        y = y.reshape(B, T, C, h, w).transpose(1, 2)
        return z + z * (torch.sigmoid(y) - 0.5)


class SideMlp(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SideBlock(nn.Module):
    """TDS block on sequence-first side tokens ``(N, B*T, D)``."""

    def __init__(self, width: int, num_segments: int, grid: int, use_td: bool) -> None:
        super().__init__()
        self.num_segments, self.grid = num_segments, grid
        self.bn_1 = nn.BatchNorm3d(width)
        self.conv = nn.Sequential(
            nn.Conv3d(width, width, 1),
            nn.Conv3d(width, width, (3, 1, 1), padding=(1, 0, 0), groups=width),
            nn.Conv3d(width, width, 1),
        )
        self.mse = TemporalDifference(width) if use_td else None
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, max(width // 64, 1))
        self.bn_2 = nn.BatchNorm3d(width)
        self.mlp = SideMlp(width)

    def to_video(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B*T, D) -> (B, D, T, h, w)``."""
        N, BT, D = x.shape
        v = x.permute(1, 2, 0).reshape(BT // self.num_segments, self.num_segments, D, self.grid, -1)
        return v.transpose(1, 2)

    @staticmethod
    def to_tokens(v: torch.Tensor) -> torch.Tensor:
        """``(B, D, T, h, w) -> (N, B*T, D)``."""
        B, D, T, h, w = v.shape
        return v.permute(3, 4, 0, 2, 1).reshape(h * w, B * T, D)

    def forward(self, x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, B*T, D)``, ``cls`` ``(1, B*T, D)``, ``pos`` ``(N, D)``."""
        t = self.conv(self.bn_1(self.to_video(x)))
        if self.mse is not None:
            t = self.mse(t)
        x = x + self.to_tokens(t)

        _, BT, D = cls.shape
        c = cls.reshape(BT // self.num_segments, self.num_segments, D)
        half = D // 2
        shifted = torch.zeros_like(c)
        shifted[:, :-1, :half] = c[:, 1:, :half]
        shifted[:, 1:, half:] = c[:, :-1, half:]
        u = self.ln_1(torch.cat([shifted.reshape(1, BT, D), x + pos[:, None]], dim=0))
        x = x + self.attn(u[1:], u, u, need_weights=False)[0]
        return x + self.mlp(self.to_tokens(self.bn_2(self.to_video(x))))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, side_width, num_segments, grid, use_td) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads) for _ in range(layers)]
        )
        self.side_lns = nn.ModuleList([nn.LayerNorm(width) for _ in range(layers)])
        self.side_linears = nn.ModuleList([nn.Linear(width, side_width) for _ in range(layers)])
        self.side_spatial_position_embeddings = nn.Parameter(
            0.01 * torch.randn(grid * grid, side_width)
        )
        self.side_transformer = nn.ModuleList(
            [SideBlock(side_width, num_segments, grid, use_td) for _ in range(layers)]
        )


class VisionTransformer(nn.Module):
    """Frozen CLIP tower and side network, interleaved layer by layer."""

    def __init__(
        self,
        width,
        layers,
        heads,
        patch_size,
        img_size,
        num_segments,
        num_local_frames,
        side_width,
        use_td,
        use_sme,
        beta,
    ) -> None:
        super().__init__()
        grid = img_size // patch_size
        self.grid, self.num_segments, self.num_local_frames = grid, num_segments, num_local_frames
        self.beta = beta
        self.conv1 = nn.Conv2d(3, width, patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(width**-0.5 * torch.randn(width))
        self.positional_embedding = nn.Parameter(width**-0.5 * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, side_width, num_segments, grid, use_td)
        stem = dict(
            kernel_size=(3, patch_size, patch_size),
            stride=(1, patch_size, patch_size),
            padding=(1, 1, 1),
        )
        self.side_conv1 = nn.Conv3d(3, side_width, **stem)
        self.side_pre_bn3d = nn.BatchNorm3d(side_width)
        self.use_sme = use_sme
        if use_sme:
            self.side_conv1_c5 = nn.Conv3d(3 * (num_local_frames - 1), side_width, **stem)
            self.side_pre_bn3d_c5 = nn.BatchNorm3d(side_width)
        self.side_post_bn = nn.BatchNorm3d(side_width)
        D = side_width
        for block in self.transformer.side_transformer:
            nn.init.normal_(block.attn.in_proj_weight, std=D**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=D**-0.5 * 24**-0.5)
            nn.init.normal_(block.mlp.fc1.weight, std=(2 * D) ** -0.5)
            nn.init.normal_(block.mlp.fc2.weight, std=D**-0.5 * 24**-0.5)
        for name, p in self.named_parameters():
            if not name.startswith(('side_', 'transformer.side_')):
                p.requires_grad_(False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T*n, H, W) -> (B, D)`` pooled side features."""
        B, C, _, H, W = video.shape
        T, n = self.num_segments, self.num_local_frames
        windows = video.reshape(B, C, T, n, H, W)
        centre = windows[:, :, :, n // 2]  # (B, 3, T, H, W)
        side = self.side_pre_bn3d(self.side_conv1(centre))
        if self.use_sme:
            # Channel k*3 + c holds frame k+1 minus frame k of each window.
            motion = (windows[:, :, :, 1:] - windows[:, :, :, :-1]).permute(0, 3, 1, 2, 4, 5)
            motion = motion.reshape(B, (n - 1) * C, T, H, W)
            side = side + self.beta * self.side_pre_bn3d_c5(self.side_conv1_c5(motion))
        x = side.permute(3, 4, 0, 2, 1).reshape(self.grid * self.grid, B * T, -1)

        z = self.conv1(centre.transpose(1, 2).reshape(B * T, C, H, W)).flatten(2).permute(2, 0, 1)
        cls = self.class_embedding.expand(1, B * T, -1)
        z = self.ln_pre(torch.cat([cls, z]) + self.positional_embedding[:, None])
        tr = self.transformer
        pos = tr.side_spatial_position_embeddings
        for block, ln, linear, side_block in zip(
            tr.resblocks, tr.side_lns, tr.side_linears, tr.side_transformer
        ):
            z = block(z)
            p = linear(ln(z))
            x = 0.5 * x + 0.5 * p[1:]
            x = side_block(x, p[:1], pos)
        out = self.side_post_bn(tr.side_transformer[0].to_video(x))
        return out.mean(dim=(2, 3, 4))


class AuthorsTDSCLIP(nn.Module):
    """``visual`` then ``fc``; arguments as in ``tests/reference/authors_tdsclip.py``."""

    def __init__(
        self,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        patch_size: int = 16,
        img_size: int = 224,
        num_segments: int = 8,
        num_local_frames: int = 5,
        side_width: int = 320,
        num_classes: int = 174,
        use_td: bool = True,
        use_sme: bool = True,
        beta: float = 0.5,
    ) -> None:
        super().__init__()
        self.visual = VisionTransformer(
            width,
            layers,
            heads,
            patch_size,
            img_size,
            num_segments,
            num_local_frames,
            side_width,
            use_td,
            use_sme and num_local_frames > 1,
            beta,
        )
        self.fc = nn.Linear(side_width, num_classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.fc(self.visual(video))
