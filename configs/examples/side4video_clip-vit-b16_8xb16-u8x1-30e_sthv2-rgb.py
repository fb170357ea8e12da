# The Side4Video baseline: TDSCLIPRecognizer with the TD-Adapter and the
# SME-Adapter off (use_td=False, use_sme=False), frozen CLIP ViT-B/16,
# Something-Something V2, with the TDS-CLIP recipe. One frame per segment
# (n = 1): with the SME off the side network has no use for neighbouring
# frames.
_base_ = [
    '../_base_/models/side4video_vit-b16.py',
    '../_base_/datasets/sthv2_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

num_local_frames = 1

model = dict(
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames=num_local_frames),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)

# MMEngine reads a base eagerly, so the base pipelines hold n = 5: set n in
# their SampleTDSFrames entries and keep every other transform as it is.
train_pipeline, val_pipeline, test_pipeline = (
    [dict(t, num_local_frames=num_local_frames) if t['type'] == 'SampleTDSFrames' else t for t in p]
    for p in (_base_.train_pipeline, _base_.val_pipeline, _base_.test_pipeline)
)
train_dataloader, val_dataloader, test_dataloader = (
    dict(dataset=dict(pipeline=p)) for p in (train_pipeline, val_pipeline, test_pipeline)
)
