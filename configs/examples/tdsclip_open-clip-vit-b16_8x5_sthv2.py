# (e) TDS-CLIP (TD-Adapters + SME-Adapter) on a frozen open_clip ViT-B/16 picked
# by name, Something-Something V2, 8 segments x 5 local frames.
#
# OpenCLIPViT builds open_clip.create_model(model_name, pretrained=...) and
# keeps its visual tower; width, depth, patch size and grid are read from it.
# pretrained='openai' downloads OpenAI's weights into open_clip's cache on
# first use (or give a local checkpoint path); None leaves the tower random.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)
default_scope = 'mmaction'

num_segments = 8  # T
num_local_frames = 5  # n: consecutive frames per segment (side network)
img_size = 224
side_dim = 320
num_classes = 174

model = dict(
    type='TDSCLIPRecognizer',
    backbone=dict(
        type='OpenCLIPViT',
        model_name='ViT-B-16',
        pretrained='openai',
        force_quick_gelu=True,
        img_size=img_size,
        precision='fp32',
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

dataset_type = 'VideoDataset'
data_root = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_videos.txt'

# Horizontal flip swaps "left" and "right" in these classes.
sthv2_flip_label_map = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}

train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        protocol='sth',
    ),
    dict(type='TDSPyAVDecode'),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5, flip_label_map=sthv2_flip_label_map),
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
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 2 clips x 3 crops: a full-width band of the crop's height, then left /
# centre / right squares (ThreeCrop needs the crop to equal the short side).
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(
        type='SampleTDSFrames',
        num_segments=num_segments,
        num_local_frames=num_local_frames,
        num_clips=2,
        protocol='sth',
        test_mode=True,
    ),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='CenterCrop', crop_size=(320, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
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

max_epochs = 30
warmup_epochs = 4
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW, weight decay 0.15 on every trainable parameter, 4 warm-up epochs,
# cosine to 0; lr 1e-3 at 8 GPUs x 16 videos. Use AmpOptimWrapper on GPUs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.15),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(enable=False, base_batch_size=128)
