# Tiny TDS-CLIP config for CPU tests of the stock tools (mim train/test,
# dist_train.sh/dist_test.sh). Paths are relative to the working directory:
# the tests write tiny_data/ there (see tests/tools/test_stock_tools.py).
_base_ = ['../../configs/_base_/default_runtime.py']

num_segments = 2  # T
num_local_frames = 3  # n
frames_per_clip = num_segments * num_local_frames  # T*n
img_size = 32

model = dict(
    type='TDSCLIPRecognizer',
    backbone=dict(
        type='FrozenCLIPViT',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=16),
        pretrained=None,
        img_size=img_size,
    ),
    neck=dict(
        type='TDSSideNetwork',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        side_dim=64,
        alpha=1.0,
        beta=0.5,
        use_td=True,
        use_sme=True,
        td_mode='pool',
        td_kernel_size=3,
    ),
    cls_head=dict(
        type='TDSHead',
        num_classes=3,
        in_channels=64,
        dropout_ratio=0.0,
        label_smooth_eps=0.1,
        average_clips='prob',
    ),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        format_shape='NCTHW',
    ),
)

dataset_type = 'VideoDataset'
data_root = 'tiny_data/videos'
ann_file_train = 'tiny_data/train.txt'
ann_file_test = 'tiny_data/test.txt'
# Sample identity travels with each prediction, so a test can check that the
# gathered results cover every sample once.
meta_keys = ('img_shape', 'filename', 'sample_idx', 'num_clips', 'clip_len')

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=frames_per_clip, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='RandomCrop', size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames', clip_len=frames_per_clip, frame_interval=1, num_clips=1, test_mode=True
    ),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
# Multi-view test: 2 clips x 3 crops = 6 views per sample. ThreeCrop needs the
# crop to equal the short side, hence the short-side resize first.
test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames', clip_len=frames_per_clip, frame_interval=1, num_clips=2, test_mode=True
    ),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# paramwise_cfg sends every parameter through the constructor's per-parameter
# path, where the frozen CLIP tower's parameters are reported (in one line).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]

default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
