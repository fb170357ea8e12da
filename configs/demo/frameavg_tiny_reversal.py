# Frame-averaging baseline on the time-reversal demo: the same frozen
# backbone, per-frame features averaged over time, then a linear classifier.
# It cannot see the order of frames, so within a time-reversed pair it scores
# chance (50 %) by construction. It uses only each window's centre frame, so
# only those frames are decoded (n = 1).
_base_ = [
    '../_base_/models/tdsclip_tiny-vit.py',
    '../_base_/datasets/reversal_demo_videos_centre-frames.py',
    '../_base_/schedules/adamw_warmup2e-cosine_reversal-demo.py',
    '../_base_/default_runtime.py',
]

model = dict(
    neck=dict(
        _delete_=True,
        type='FrameAveragingNeck',
        num_segments={{_base_.num_segments}},
        num_local_frames={{_base_.num_local_frames}},
        side_dim={{_base_.side_dim}},
    ),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)

default_hooks = dict(checkpoint=dict(interval=-1, save_best=None))
randomness = dict(seed=0, deterministic=False)
