# The demo recipe of ../tdsclip_tiny_reversal.py for models that look only at
# the frame each window is centred on (SME off, or frame averaging): decode
# just those T frames (num_local_frames=1). The model sees the same frames as
# with wider windows, at a quarter of the decoding work.
_base_ = ['../tdsclip_tiny_reversal.py']

num_local_frames = 1
num_segments = {{_base_.num_segments}}
img_size = {{_base_.img_size}}
resize = {{_base_.resize}}

model = dict(neck=dict(num_local_frames=num_local_frames))

train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='sth',
    ),
    dict(type='TDSPyAVDecode'),
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    dict(type='RepeatAugment', transforms=[dict(type='RandomCrop', size=img_size)], num_repeats=2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=1,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=3,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(resize, resize), keep_ratio=False),
    dict(type='CenterCrop', crop_size=(resize, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
