# TDS-CLIP on the embedded time-reversal demo dataset
# (tools/data/make_reversal_dataset.py), sized for a 2-core CPU: a tiny
# CLIP-layout ViT with random weights (no CLIP weights can be downloaded on
# the machines this demo targets). For real CLIP weights, inherit
# ../_base_/models/tdsclip_vit-b16.py and use 224-pixel pipelines.
_base_ = [
    '../_base_/models/tdsclip_tiny-vit.py',
    '../_base_/datasets/reversal_demo_videos.py',
    '../_base_/schedules/adamw_warmup2e-cosine_reversal-demo.py',
    '../_base_/default_runtime.py',
]

model = dict(
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames={{_base_.num_local_frames}}),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)

# Only the last checkpoint.
default_hooks = dict(checkpoint=dict(interval=-1, save_best=None))
randomness = dict(seed=0, deterministic=False)
