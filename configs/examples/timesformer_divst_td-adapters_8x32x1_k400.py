# (b) TD-Adapters inserted into a stock MMAction2 TimeSformer (divided
# space-time attention), from this config alone: one adapter after the
# temporal attention of every layer, on its (B, 1 + N*T, C) tokens (class
# token first, then patch-major: token p*T + t, token_order='nt'). The class
# token passes through; the patch tokens are seen as (B, C, T, h, w), and the
# spatial attention that follows carries the result into the class token
# (after a whole last layer an adapter would be wasted: TimeSformer keeps
# only the class token). identity_init=True starts from the pretrained
# TimeSformer exactly.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)
default_scope = 'mmaction'

num_frames = 8
img_size = 224
num_classes = 400

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='AdapterInsertedBackbone',
        backbone=dict(
            type='TimeSformer',
            pretrained='https://download.openmmlab.com/mmaction/recognition/timesformer/'
            'vit_base_patch16_224.pth',
            num_frames=num_frames,
            img_size=img_size,
            patch_size=16,
            embed_dims=768,
            in_channels=3,
            dropout_ratio=0.0,
            transformer_layers=None,
            attention_type='divided_space_time',
            norm_cfg=dict(type='LN', eps=1e-6),
        ),
        # channels (embed_dims) and num_frames are read from the backbone.
        adapters=[
            dict(
                type='TDAdapter',
                after='transformer_layers.layers.*.attentions.0',
                layout='video-tokens',
                token_order='nt',
                num_extra_tokens=1,
                reduction=16,
                identity_init=True,
            )
        ],
    ),
    cls_head=dict(
        type='TimeSformerHead', num_classes=num_classes, in_channels=768, average_clips='prob'
    ),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        format_shape='NCTHW',
    ),
)

dataset_type = 'VideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

train_pipeline = [
    dict(type='TDSPyAVInit'),
    dict(type='SampleFrames', clip_len=num_frames, frame_interval=32, num_clips=1),
    dict(type='TDSPyAVDecode'),
    dict(type='RandomRescale', scale_range=(256, 320)),
    dict(type='RandomCrop', size=img_size),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(type='SampleFrames', clip_len=num_frames, frame_interval=32, num_clips=1, test_mode=True),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 1 clip x 3 crops.
test_pipeline = [
    dict(type='TDSPyAVInit', test_mode=True),
    dict(type='SampleFrames', clip_len=num_frames, frame_interval=32, num_clips=1, test_mode=True),
    dict(type='TDSPyAVDecode', test_mode=True),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

train_dataloader = dict(
    batch_size=8,
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
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
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
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True,
    ),
)

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

max_epochs = 15
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# MMAction2's TimeSformer recipe (the keys are substrings, so they still
# match under the wrapper's extra "backbone.").
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(
        custom_keys={
            '.backbone.cls_token': dict(decay_mult=0.0),
            '.backbone.pos_embed': dict(decay_mult=0.0),
            '.backbone.time_embed': dict(decay_mult=0.0),
        }
    ),
    clip_grad=dict(max_norm=40, norm_type=2),
)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[5, 10], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=5))
auto_scale_lr = dict(enable=False, base_batch_size=64)
