# TDS-CLIP, frozen CLIP ViT-B/16, Something-Something V2 read as JPEG frame
# folders (img_{:05d}.jpg, from tools/data/extract_frames.py), as the authors
# read it: the recipe of tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py.
# T = 8 segments x n = 5 local frames, 8 GPUs x 16 videos x 2 views,
# 30 epochs. Paper top-1: 71.8 (3 crops x 2 clips).
_base_ = [
    '../_base_/models/tdsclip_vit-b16.py',
    '../_base_/datasets/sthv2_rawframes.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames={{_base_.num_local_frames}}),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)
