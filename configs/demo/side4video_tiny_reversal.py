# Side4Video on the time-reversal demo: TDS-CLIP with the TD-Adapter and the
# SME-Adapter off (same frozen backbone, side width and recipe as
# tdsclip_tiny_reversal.py). Without SME only each window's centre frame is
# used, so only those frames are decoded (n = 1).
_base_ = [
    '../_base_/models/tdsclip_tiny-vit.py',
    '../_base_/datasets/reversal_demo_videos_centre-frames.py',
    '../_base_/schedules/adamw_warmup2e-cosine_reversal-demo.py',
    '../_base_/default_runtime.py',
]

model = dict(
    neck=dict(
        num_segments={{_base_.num_segments}},
        num_local_frames={{_base_.num_local_frames}},
        use_td=False,
        use_sme=False,
    ),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)

default_hooks = dict(checkpoint=dict(interval=-1, save_best=None))
randomness = dict(seed=0, deterministic=False)
