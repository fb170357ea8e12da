# TDS-CLIP on the embedded time-reversal demo dataset
# (tools/data/make_reversal_dataset.py), sized for a 2-core CPU.
#
# The frozen backbone is a small CLIP-layout ViT with random weights: no CLIP
# weights can be downloaded on the machines this demo targets. To use real
# CLIP weights, set
#   model.backbone.arch='ViT-B/16', model.backbone.img_size=224,
#   model.backbone.pretrained='/path/to/ViT-B-16.pt'
# (and a 224-pixel pipeline, side_dim=320, TDSHead in_channels=320).
custom_imports = dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)
default_scope = 'mmaction'

num_segments = 8  # T: frames the frozen ViT sees
num_local_frames = 5  # n: window of consecutive frames per segment
img_size = 32
resize = 36  # frames (64 x 64 on disk) are resized to resize x resize
side_dim = 64
num_classes = 12  # 6 time-reversed pairs

data_root = 'data/reversal_demo'
dataset_type = 'VideoDataset'

model = dict(
    type='TDSCLIPRecognizer',
    backbone=dict(
        type='FrozenCLIPViT',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=8),
        img_size=img_size,
        pretrained=None,
    ),
    neck=dict(
        type='TDSSideNetwork',
        num_frames=num_segments,
        num_local_frames=num_local_frames,
        side_dim=side_dim,
        alpha=1.0,
        beta=0.5,
        use_td=True,
        use_sme=True,
        td_mode='pool',
        td_pool_kernel=3,
    ),
    cls_head=dict(
        type='TDSHead',
        num_classes=num_classes,
        in_channels=side_dim,
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

# T windows of n consecutive frames, segment-major (frame j of segment t at
# t * n + j). The demo clips have 33 = 4 * T + 1 frames: with the 'sth' test
# offsets, the 3 test clips of a video and of its time reversal then hold the
# same frames, so a frame-order-blind model scores exactly chance within pairs.
# No horizontal flip: left/right and clockwise/anticlockwise are classes.
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
    # Repeated augmentation (as in the TDS-CLIP recipe): each decoded clip
    # gives two independently cropped views, which halves decoding per view.
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
# 3 clips x 3 crops: a centre band of full width, then left / centre / right
# squares (ThreeCrop needs the crop to equal the short side).
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

train_dataloader = dict(
    batch_size=16,  # x 2 views
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=data_root + '/train.txt',
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=data_root + '/val.txt',
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=data_root + '/test.txt',
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = dict(type='AccMetric')

max_epochs = 20
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    clip_grad=dict(max_norm=20, norm_type=2),
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2, convert_to_iter_based=True
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        eta_min=0,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='gloo'),
)
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
