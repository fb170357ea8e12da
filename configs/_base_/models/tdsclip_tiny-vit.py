# TDS-CLIP on a tiny CLIP-layout ViT with random weights (2 layers, width 64,
# 8-pixel patches on 32 x 32 frames) and a 64-wide side network: sized for a
# CPU, for the demo and smoke tests. No CLIP weights are read.
# To use real CLIP weights instead, inherit tdsclip_vit-b16.py (224-pixel
# pipelines).
_base_ = ['./tdsclip_vit-b16.py']

side_dim = 64

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=2, patch_size=8),
        img_size=32,
        pretrained=None,
    ),
    neck=dict(side_dim=side_dim),
    cls_head=dict(in_channels=side_dim),
)
