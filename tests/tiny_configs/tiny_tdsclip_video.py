# Tiny TDS-CLIP config for CPU tests of the stock tools (mim train/test,
# dist_train.sh/dist_test.sh), with the plugin's own sampler and decoders.
# Paths are relative to the working directory: the tests write tiny_data/
# there (see tests/tools/test_stock_tools.py).
_base_ = [
    '../../configs/_base_/models/tdsclip_tiny-vit.py',
    '../../configs/_base_/schedules/adamw_warmup4e-cosine.py',
    '../../configs/_base_/default_runtime.py',
]

num_segments = 2  # T
num_local_frames = 3  # n
num_classes = 3
img_size = 32

model = dict(
    backbone=dict(arch=dict(patch_size=16)),
    neck=dict(num_segments=num_segments, num_local_frames=num_local_frames),
    cls_head=dict(num_classes=num_classes),
)

dataset_type = 'VideoDataset'
data_root = 'tiny_data/videos'
ann_file_train = 'tiny_data/train.txt'
ann_file_test = 'tiny_data/test.txt'
# Sample identity travels with each prediction, so a test can check that the
# gathered results cover every sample once.
meta_keys = ('img_shape', 'filename', 'sample_idx', 'num_clips', 'clip_len')

train_pipeline = [
    dict(type='TDSDecordInit'),
    dict(type='SampleTDSFrames', num_segments=num_segments, num_local_frames=num_local_frames),
    dict(type='TDSDecordDecode'),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='RandomCrop', size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='TDSDecordInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        test_mode=True,
    ),
    dict(type='TDSDecordDecode', test_mode=True),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
# Multi-view test: 2 clips x 3 crops = 6 views per sample. ThreeCrop needs the
# crop to equal the short side, hence the short-side resize first.
test_pipeline = [
    dict(type='TDSDecordInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=2,
        test_mode=True,
    ),
    dict(type='TDSDecordDecode', test_mode=True),
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

train_cfg = dict(max_epochs=1)

# Full precision on CPU. paramwise_cfg sends every parameter through the
# constructor's per-parameter path, where the frozen CLIP tower's parameters
# are reported (in one line).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
auto_scale_lr = dict(base_batch_size=2)  # one process x 2 videos

default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
