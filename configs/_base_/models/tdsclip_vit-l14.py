# TDS-CLIP with a frozen CLIP ViT-L/14: side width 512 (8 heads of 64);
# otherwise as tdsclip_vit-b16.py.
#
# Put OpenAI's ViT-L-14.pt (https://openaipublic.azureedge.net/clip/models/
# b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt)
# at the path below, or override model.backbone.pretrained.
_base_ = ['./tdsclip_vit-b16.py']

side_dim = 512

model = dict(
    backbone=dict(arch='ViT-L/14', pretrained='checkpoints/clip/ViT-L-14.pt'),
    neck=dict(side_dim=side_dim),
    cls_head=dict(in_channels=side_dim),
)
