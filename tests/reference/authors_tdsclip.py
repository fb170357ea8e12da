"""TDS-CLIP written straight from docs/model.md, in the authors' module layout.

This is an independent second implementation of the model, used as ground
truth for the official-checkpoint converter: its ``state_dict()`` keys are
exactly those of the authors' released checkpoints (``visual.*`` holding the
frozen CLIP tower and the side network, ``fc.*`` the classifier), so a
randomised instance saved as ``{'epoch', 'model_state_dict',
'optimizer_state_dict'}`` is a faithful stand-in for a released file.

It is written the plain way (explicit loops over frames and windows,
``nn.MultiheadAttention`` everywhere) and imports nothing from
``mmaction_tdsclip``.

Input: CLIP-normalised clips ``(B, 3, T*n, H, W)`` holding T windows of n
consecutive frames, segment-major (frame ``j`` of segment ``t`` at index
``t*n + j``). Output: logits ``(B, num_classes)``.
"""

from collections import OrderedDict

import torch
import torch.nn as nn


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the activation OpenAI CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """OpenAI CLIP's pre-LN block; tokens are sequence-first ``(L, B, W)``."""

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


class TemporalDifferenceModule(nn.Module):
    """The TD-Adapter (``mse`` in the authors' names), pooling mode, kernel 3.

    Input and output ``(B, C, T, h, w)``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, C, T, h, w = z.shape
        # The 2-D layers see every frame of the batch at once: (B*T, C, h, w), batch-major.
        frames = z.transpose(1, 2).reshape(B * T, C, h, w)
        reduced = self.bn1(self.conv1(frames)).reshape(B, T, -1, h, w)
        differences = []
        for t in range(T):
            neighbours = [reduced[:, s] for s in range(max(t - 1, 0), min(t + 1, T - 1) + 1)]
            pooled = torch.stack(neighbours, dim=0).max(dim=0).values
            d = reduced[:, t] - pooled
            differences.append(0.5 * d + 0.5 * d.mean(dim=1, keepdim=True))
        y = torch.stack(differences, dim=1).reshape(B * T, -1, h, w)
        y = self.bn2(self.conv2(y)).reshape(B, T, C, h, w).transpose(1, 2)
        gate = torch.sigmoid(y) - 0.5
        return z + z * gate


class SideMlp(nn.Module):
    """``fc1 -> GELU -> fc2``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def tokens_to_map(x: torch.Tensor, grid: int) -> torch.Tensor:
    """``(B, T, N, D) -> (B, D, T, h, w)`` with tokens in row-major patch order."""
    B, T, N, D = x.shape
    return x.reshape(B, T, grid, grid, D).permute(0, 4, 1, 2, 3)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, D, T, h, w) -> (B, T, N, D)``."""
    B, D, T, h, w = x.shape
    return x.permute(0, 2, 3, 4, 1).reshape(B, T, h * w, D)


class SideBlock(nn.Module):
    """One TDS block: temporal convs (+ TD), shifted-cls attention, MLP.

    ``x``: side tokens ``(B, T, N, D)``; ``cls``: projected CLIP class tokens
    ``(B, T, D)``; ``pos``: shared spatial positions ``(N, D)``.
    """

    def __init__(self, width: int, heads: int, grid: int, use_td: bool) -> None:
        super().__init__()
        self.grid = grid
        self.bn_1 = nn.BatchNorm3d(width)
        self.conv = nn.Sequential(
            nn.Conv3d(width, width, kernel_size=1),
            nn.Conv3d(width, width, kernel_size=(3, 1, 1), padding=(1, 0, 0), groups=width),
            nn.Conv3d(width, width, kernel_size=1),
        )
        if use_td:
            self.mse = TemporalDifferenceModule(width)
        self.use_td = use_td
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.bn_2 = nn.BatchNorm3d(width)
        self.mlp = SideMlp(width)

    def forward(self, x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        B, T, N, D = x.shape
        temporal = self.conv(self.bn_1(tokens_to_map(x, self.grid)))
        if self.use_td:
            temporal = self.mse(temporal)
        x = x + map_to_tokens(temporal)

        half = D // 2
        shifted = torch.zeros_like(cls)
        for t in range(T):
            if t + 1 < T:
                shifted[:, t, :half] = cls[:, t + 1, :half]
            if t - 1 >= 0:
                shifted[:, t, half:] = cls[:, t - 1, half:]

        updated = []
        for t in range(T):
            seq = torch.cat([shifted[:, t : t + 1], x[:, t] + pos], dim=1)  # (B, N+1, D)
            u = self.ln_1(seq).transpose(0, 1)  # (N+1, B, D)
            out = self.attn(u[1:], u, u, need_weights=False)[0].transpose(0, 1)
            updated.append(x[:, t] + out)
        x = torch.stack(updated, dim=1)

        h = map_to_tokens(self.bn_2(tokens_to_map(x, self.grid)))
        return x + self.mlp(h)


class Transformer(nn.Module):
    """CLIP's ``resblocks`` plus the side network's per-layer parts."""

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        side_width: int,
        side_heads: int,
        grid: int,
        use_td: bool,
    ) -> None:
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
            [SideBlock(side_width, side_heads, grid, use_td) for _ in range(layers)]
        )


class VisionTransformer(nn.Module):
    """Frozen CLIP tower and TDS side network (the authors' ``visual``)."""

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        patch_size: int,
        img_size: int,
        num_segments: int,
        num_local_frames: int,
        side_width: int,
        use_td: bool,
        use_sme: bool,
        beta: float,
    ) -> None:
        super().__init__()
        grid = img_size // patch_size
        self.grid = grid
        self.num_segments = num_segments
        self.num_local_frames = num_local_frames
        self.use_sme = use_sme
        self.beta = beta
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(width**-0.5 * torch.randn(width))
        self.positional_embedding = nn.Parameter(width**-0.5 * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(
            width, layers, heads, side_width, side_width // 64 or 1, grid, use_td
        )
        patch3d = dict(
            kernel_size=(3, patch_size, patch_size),
            stride=(1, patch_size, patch_size),
            padding=(1, 1, 1),
        )
        self.side_conv1 = nn.Conv3d(3, side_width, **patch3d)
        self.side_pre_bn3d = nn.BatchNorm3d(side_width)
        if use_sme:
            self.side_conv1_c5 = nn.Conv3d(3 * (num_local_frames - 1), side_width, **patch3d)
            self.side_pre_bn3d_c5 = nn.BatchNorm3d(side_width)
        self.side_post_bn = nn.BatchNorm3d(side_width)
        self._init_side(side_width)
        for name, p in self.named_parameters():
            # docs/model.md section 7: nothing of CLIP is trained.
            if not name.startswith('side_') and not name.startswith('transformer.side_'):
                p.requires_grad_(False)

    def _init_side(self, side_width: int) -> None:
        """``docs/model.md`` section 6; everything not named keeps PyTorch's default init."""
        proj_std = side_width**-0.5 * 24**-0.5
        for block in self.transformer.side_transformer:
            nn.init.normal_(block.attn.in_proj_weight, std=side_width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.fc1.weight, std=(2 * side_width) ** -0.5)
            nn.init.normal_(block.mlp.fc2.weight, std=proj_std)
            # The released loop touches the MLP weights only: fc1 / fc2 biases keep
            # nn.Linear's default uniform init. Attention biases are zero.
            nn.init.zeros_(block.attn.in_proj_bias)
            nn.init.zeros_(block.attn.out_proj.bias)

    def clip_layers(self, images: torch.Tensor) -> list:
        """Every CLIP block's output ``(M, N+1, W)`` for images ``(M, 3, H, W)``."""
        x = self.conv1(images).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = x.transpose(0, 1)
        outs = []
        for block in self.transformer.resblocks:
            x = block(x)
            outs.append(x.transpose(0, 1))
        return outs

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T*n, H, W) -> (B, D)`` pooled side features."""
        B, C, _, H, W = video.shape
        T, n = self.num_segments, self.num_local_frames
        centre = [t * n + n // 2 for t in range(T)]

        side = self.side_pre_bn3d(self.side_conv1(video[:, :, centre]))
        if self.use_sme:
            differences = []
            for k in range(n - 1):
                later = video[:, :, [t * n + k + 1 for t in range(T)]]
                earlier = video[:, :, [t * n + k for t in range(T)]]
                differences.append(later - earlier)
            motion = torch.cat(differences, dim=1)  # channel k*3 + c
            side = side + self.beta * self.side_pre_bn3d_c5(self.side_conv1_c5(motion))
        x = map_to_tokens(side)  # (B, T, N, D)

        with torch.no_grad():
            images = video[:, :, centre].transpose(1, 2).reshape(B * T, C, H, W)
            layers = self.clip_layers(images)

        pos = self.transformer.side_spatial_position_embeddings
        for layer_idx, z in enumerate(layers):
            z = z.reshape(B, T, z.shape[1], z.shape[2])
            z = self.transformer.side_linears[layer_idx](self.transformer.side_lns[layer_idx](z))
            x = 0.5 * x + 0.5 * z[:, :, 1:]
            x = self.transformer.side_transformer[layer_idx](x, z[:, :, 0], pos)

        out = self.side_post_bn(tokens_to_map(x, self.grid))
        return out.mean(dim=(2, 3, 4))


class AuthorsTDSCLIP(nn.Module):
    """The authors' top-level model: ``visual`` then ``fc``.

    Args:
        width, layers, heads, patch_size, img_size: The CLIP tower.
        num_segments: ``T``.
        num_local_frames: ``n``, frames per window.
        side_width: ``D``; the side attention has ``max(D // 64, 1)`` heads.
        num_classes: Classifier outputs.
        use_td: TD-Adapter in every side block.
        use_sme: SME-Adapter on the side input (needs ``n >= 2``).
        beta: Weight of the SME-Adapter.
    """

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
        if use_sme and num_local_frames < 2:
            raise ValueError('use_sme needs at least 2 local frames.')
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
            use_sme,
            beta,
        )
        self.fc = nn.Linear(side_width, num_classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.fc(self.visual(video))


def randomize_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Fill every parameter and BatchNorm statistic with random values, in place.

    Matrices and kernels get ``N(0, 1/fan_in)``, vectors ``N(0, 0.2)`` (norm
    weights ``1 + N(0, 0.2)``), running means ``N(0, 0.5)``, running
    variances ``U(0.5, 2)`` and ``num_batches_tracked`` a random count, so
    that a converter mixing up any two tensors changes the output while the
    logits stay of order one.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) * p[0].numel() ** -0.5)
            else:
                noise = torch.randn(p.shape, generator=generator) * 0.2
                p.copy_(noise + 1.0 if name.endswith('weight') else noise)
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=generator) * 0.5)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=generator) * 1.5 + 0.5)
            elif name.endswith('num_batches_tracked'):
                b.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
    return model
