# As tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py,
# with T = 16 segments (x n = 5 local frames).
# Paper top-1: 72.1 (3 crops x 2 clips).
_base_ = ['./tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py']

num_segments = 16

model = dict(neck=dict(num_segments=num_segments))

# MMEngine reads a base eagerly, so the base pipelines hold T = 8: set T in
# their SampleTDSFrames entries and keep every other transform as it is.
train_pipeline, val_pipeline, test_pipeline = (
    [dict(t, num_segments=num_segments) if t['type'] == 'SampleTDSFrames' else t for t in p]
    for p in (_base_.train_pipeline, _base_.val_pipeline, _base_.test_pipeline)
)
train_dataloader, val_dataloader, test_dataloader = (
    dict(dataset=dict(pipeline=p)) for p in (train_pipeline, val_pipeline, test_pipeline)
)
