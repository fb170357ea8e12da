# The time-reversal demo data (reversal_demo_videos.py) for models that look
# only at the frame each window is centred on (SME off, or frame averaging):
# n = 1, so only those T frames are decoded. The model sees the same frames as
# with n = 5, at a fifth of the decoding work.
_base_ = ['./reversal_demo_videos.py']

num_local_frames = 1

# MMEngine reads a base eagerly, so the base pipelines hold n = 5: set n in
# their SampleTDSFrames entries and keep every other transform as it is.
train_pipeline, val_pipeline, test_pipeline = (
    [dict(t, num_local_frames=num_local_frames) if t['type'] == 'SampleTDSFrames' else t for t in p]
    for p in (_base_.train_pipeline, _base_.val_pipeline, _base_.test_pipeline)
)
train_dataloader, val_dataloader, test_dataloader = (
    dict(dataset=dict(pipeline=p)) for p in (train_pipeline, val_pipeline, test_pipeline)
)
