# TDS-CLIP, frozen CLIP ViT-B/16, Kinetics-400:
# T = 8 segments x n = 5 local frames, 8 GPUs x 16 videos x 2 views,
# 30 epochs. Paper top-1: 83.9 (3 crops x 4 clips).
_base_ = [
    '../_base_/models/tdsclip_vit-b16.py',
    '../_base_/datasets/kinetics400_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames={{_base_.num_local_frames}}),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)
